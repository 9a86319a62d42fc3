/* One scanner per string width: included by _speedups.c with CHAR_T and SFX defined.
 *
 * Each function takes the text, its length and a position; it returns 1 and
 * moves the position past what it matched, or 0 (the position is then
 * meaningless: the caller gives up on the whole text).
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

/* Match an ASCII literal at *pos; advance only on a match. */
static inline int FN(lit)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, const char *text, Py_ssize_t len)
{
    Py_ssize_t i = *pos;
    if (n - i < len) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < len; k++) {
        if (s[i + k] != (CHAR_T)(unsigned char)text[k]) {
            return 0;
        }
    }
    *pos = i + len;
    return 1;
}

#define LIT(text) FN(lit)(s, n, pos, text, (Py_ssize_t)(sizeof(text) - 1))

/* A JSON string as json.loads reads it (strict): no control characters, known escapes only. */
static int FN(string)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos)
{
    Py_ssize_t i = *pos;
    if (i >= n || s[i] != '"') {
        return 0;
    }
    i++;
    while (i < n) {
        Py_UCS4 c = s[i];
        if (c == '"') {
            *pos = i + 1;
            return 1;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c == '\\') {
            if (i + 1 >= n) {
                return 0;
            }
            Py_UCS4 e = s[i + 1];
            if (e == 'u') {
                if (i + 5 >= n) {
                    return 0;
                }
                for (int k = 2; k < 6; k++) {
                    if (!is_hex_any_case(s[i + k])) {
                        return 0;
                    }
                }
                i += 6;
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
                return 0;
            }
            i += 2;
            continue;
        }
        i++;
    }
    return 0;
}

/* A box coordinate: an integer in [ck_bbox_min, ck_bbox_max] without leading zeros. */
static int FN(coord)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, int *value)
{
    Py_ssize_t i = *pos;
    if (i >= n || s[i] < '0' || s[i] > '9') {
        return 0;
    }
    if (s[i] == '0') {
        i++;
        if (i < n && s[i] >= '0' && s[i] <= '9') {
            return 0;
        }
        if (ck_bbox_min > 0) {
            return 0;
        }
        *value = 0;
        *pos = i;
        return 1;
    }
    int v = 0;
    int digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (++digits > 4) {
            return 0;
        }
        v = v * 10 + (int)(s[i] - '0');
        i++;
    }
    if (v > ck_bbox_max || v < ck_bbox_min) {
        return 0;
    }
    *value = v;
    *pos = i;
    return 1;
}

/* [y_min,x_min,y_max,x_max] with each edge pair in order. */
static int FN(box)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos)
{
    int v[4];
    if (!LIT("[")) {
        return 0;
    }
    for (int k = 0; k < 4; k++) {
        if (k && !LIT(",")) {
            return 0;
        }
        if (!FN(coord)(s, n, pos, &v[k])) {
            return 0;
        }
    }
    return LIT("]") && v[0] <= v[2] && v[1] <= v[3];
}

/* A list of at most `limit` "#RRGGBB" strings with uppercase hex digits. */
static int FN(palette)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, int limit)
{
    if (!LIT("[")) {
        return 0;
    }
    if (LIT("]")) {
        return 1;
    }
    for (int count = 1;; count++) {
        if (count > limit || !LIT("\"#")) {
            return 0;
        }
        Py_ssize_t i = *pos;
        if (n - i < 7) {
            return 0;
        }
        for (int k = 0; k < 6; k++) {
            if (!is_hex_upper(s[i + k])) {
                return 0;
            }
        }
        if (s[i + 6] != '"') {
            return 0;
        }
        *pos = i + 7;
        if (LIT("]")) {
            return 1;
        }
        if (!LIT(",")) {
            return 0;
        }
    }
}

static int FN(style)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos)
{
    if (!(LIT("{\"aesthetics\":") && FN(string)(s, n, pos) && LIT(",\"lighting\":") && FN(string)(s, n, pos))) {
        return 0;
    }
    if (LIT(",\"photo\":")) {
        if (!(FN(string)(s, n, pos) && LIT(",\"medium\":") && FN(string)(s, n, pos))) {
            return 0;
        }
    }
    else if (!(LIT(",\"medium\":") && FN(string)(s, n, pos) && LIT(",\"art_style\":") && FN(string)(s, n, pos))) {
        return 0;
    }
    if (LIT(",\"color_palette\":") && !FN(palette)(s, n, pos, ck_style_palette_max)) {
        return 0;
    }
    return LIT("}");
}

static int FN(element)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos)
{
    int is_text;
    if (LIT("{\"type\":\"obj\"")) {
        is_text = 0;
    }
    else if (LIT("{\"type\":\"text\"")) {
        is_text = 1;
    }
    else {
        return 0;
    }
    if (LIT(",\"bbox\":") && !FN(box)(s, n, pos)) {
        return 0;
    }
    if (is_text && !(LIT(",\"text\":") && FN(string)(s, n, pos))) {
        return 0;
    }
    if (!(LIT(",\"desc\":") && FN(string)(s, n, pos))) {
        return 0;
    }
    if (LIT(",\"color_palette\":") && !FN(palette)(s, n, pos, ck_element_palette_max)) {
        return 0;
    }
    return LIT("}");
}

static inline void FN(ws)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos)
{
    Py_ssize_t i = *pos;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    *pos = i;
}

/* Any JSON value json.loads reads the same way; NaN, Infinity, integers of more than
 * SKIP_MAX_DIGITS digits and nesting deeper than SKIP_MAX_DEPTH are refused (the
 * Python routes decide those). */
static int FN(skip)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, int depth)
{
    FN(ws)(s, n, pos);
    Py_ssize_t i = *pos;
    if (i >= n) {
        return 0;
    }
    Py_UCS4 c = s[i];
    if (c == '"') {
        return FN(string)(s, n, pos);
    }
    if (c == '{' || c == '[') {
        Py_UCS4 close = c == '{' ? '}' : ']';
        if (depth >= SKIP_MAX_DEPTH) {
            return 0;
        }
        *pos = i + 1;
        FN(ws)(s, n, pos);
        if (*pos < n && s[*pos] == close) {
            *pos += 1;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                FN(ws)(s, n, pos);
                if (!FN(string)(s, n, pos)) {
                    return 0;
                }
                FN(ws)(s, n, pos);
                if (!LIT(":")) {
                    return 0;
                }
            }
            if (!FN(skip)(s, n, pos, depth + 1)) {
                return 0;
            }
            FN(ws)(s, n, pos);
            if (*pos >= n) {
                return 0;
            }
            if (s[*pos] == close) {
                *pos += 1;
                return 1;
            }
            if (!LIT(",")) {
                return 0;
            }
        }
    }
    if (LIT("true") || LIT("false") || LIT("null")) {
        return 1;
    }
    /* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? */
    if (c == '-') {
        i++;
    }
    if (i >= n || s[i] < '0' || s[i] > '9') {
        return 0;
    }
    if (s[i] == '0') {
        i++;
    }
    else {
        Py_ssize_t first = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i - first > SKIP_MAX_DIGITS) {
            return 0;
        }
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9') {
            return 0;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= n || s[i] < '0' || s[i] > '9') {
            return 0;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    *pos = i;
    return 1;
}

/* Check the value at *pos with `strict`; when it does not match, skip it as generic JSON.
 * Returns 0 (matched), 1 (suspect: *start..*pos holds it) or -1 (not readable JSON). */
static int FN(value)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos,
                     int (*strict)(const CHAR_T *, Py_ssize_t, Py_ssize_t *), Py_ssize_t *start)
{
    *start = *pos;
    if (strict(s, n, pos)) {
        return 0;
    }
    *pos = *start;
    return FN(skip)(s, n, pos, 0) ? 1 : -1;
}

/* A known root key's value, seen once: *end is -1 when it matched, else its span's end. */
static int FN(member)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos,
                      int (*strict)(const CHAR_T *, Py_ssize_t, Py_ssize_t *), int *seen,
                      Py_ssize_t *start, Py_ssize_t *end)
{
    if ((*seen)++) {
        return 0; /* a duplicate key: json.loads keeps the last value, the full check decides */
    }
    int rc = FN(value)(s, n, pos, strict, start);
    *end = rc == 1 ? *pos : -1;
    return rc >= 0;
}

/* Locate what may hold findings. Fills `found` and returns 1, or returns 0 (undecided). */
static int FN(locate)(const CHAR_T *s, Py_ssize_t n, struct located *found)
{
    Py_ssize_t start = 0;
    Py_ssize_t *pos = &start;
    int seen_hld = 0, seen_style = 0, seen_cd = 0;
    if (!LIT("{") || LIT("}")) {
        return 0;
    }
    for (;;) {
        if (LIT("\"high_level_description\":")) {
            if (!FN(member)(s, n, pos, FN(string), &seen_hld, &found->hld_start, &found->hld_end)) {
                return 0;
            }
        }
        else if (LIT("\"style_description\":")) {
            if (!FN(member)(s, n, pos, FN(style), &seen_style, &found->style_start, &found->style_end)) {
                return 0;
            }
        }
        else if (LIT("\"compositional_deconstruction\":{\"background\":")) {
            if (seen_cd++) {
                return 0;
            }
            if (!(FN(string)(s, n, pos) && LIT(",\"elements\":["))) {
                return 0;
            }
            if (!LIT("]")) {
                for (Py_ssize_t index = 0;; index++) {
                    Py_ssize_t element_start;
                    int rc = FN(value)(s, n, pos, FN(element), &element_start);
                    if (rc < 0) {
                        return 0;
                    }
                    if (rc == 1 && !add_span(&found->elements, index, element_start, *pos)) {
                        return -1;
                    }
                    if (LIT("]")) {
                        break;
                    }
                    if (!LIT(",")) {
                        return 0;
                    }
                }
            }
            if (!LIT("}")) {
                return 0;
            }
        }
        else {
            /* an unknown root key: keep where its name is, skip its value */
            Py_ssize_t key_start = *pos;
            if (!FN(string)(s, n, pos)) {
                return 0;
            }
            if (!add_span(&found->unknown, -1, key_start, *pos)) {
                return -1;
            }
            if (!LIT(":") || !FN(skip)(s, n, pos, 0)) {
                return 0;
            }
        }
        if (LIT("}")) {
            break;
        }
        if (!LIT(",")) {
            return 0;
        }
    }
    return seen_cd && *pos == n;
}


#undef LIT
#undef FN
#undef CAT
#undef CAT_
