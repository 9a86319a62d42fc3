/* One scanner per string width: included by _speedups.c with CHAR_T and SFX defined.
 *
 * Each function takes the text, its length, a position and what has been found so far;
 * it returns 1 and moves the position past what it matched, or 0 (the caller then either
 * restarts at a position it saved or gives up on the whole text).
 *
 * JSON white space may stand before and after every token, in any layout (minified,
 * pretty-printed with any indent, a final newline). Whatever the canonical form would not
 * hold (white space, escapes it does not write, root keys out of canonical order), and a
 * literal lone surrogate (canonical, but no UTF-8 file holds it as it is: stored, it is
 * escaped), sets found->other_form; it never changes which values are clean.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

/* Skip JSON white space; any at all means the text is not in the canonical (minified) form. */
static inline void FN(ws)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f)
{
    Py_ssize_t i = *pos;
    if (i < n && IS_WS(s[i])) {
        do {
            i++;
        } while (i < n && IS_WS(s[i]));
        f->other_form = 1;
        *pos = i;
    }
}

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

/* One token, after any white space. */
static inline int FN(tok)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f, const char *text,
                          Py_ssize_t len)
{
    FN(ws)(s, n, pos, f);
    return FN(lit)(s, n, pos, text, len);
}

/* A key and its colon ("name" :), white space allowed around each; advance only on a match. */
static inline int FN(key)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f, const char *name,
                          Py_ssize_t len)
{
    Py_ssize_t i = *pos;
    if (FN(tok)(s, n, &i, f, name, len) && FN(tok)(s, n, &i, f, ":", 1)) {
        *pos = i;
        return 1;
    }
    return 0;
}

/* The next member of an object, by name: a comma, the key and its colon; advance only on a match. */
static inline int FN(member)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f, const char *name,
                             Py_ssize_t len)
{
    Py_ssize_t i = *pos;
    if (FN(tok)(s, n, &i, f, ",", 1) && FN(key)(s, n, &i, f, name, len)) {
        *pos = i;
        return 1;
    }
    return 0;
}

#define LIT(text) FN(lit)(s, n, pos, text, (Py_ssize_t)(sizeof(text) - 1))
#define TOK(text) FN(tok)(s, n, pos, f, text, (Py_ssize_t)(sizeof(text) - 1))
#define KEY(name) FN(key)(s, n, pos, f, name, (Py_ssize_t)(sizeof(name) - 1))
#define MEMBER(name) FN(member)(s, n, pos, f, name, (Py_ssize_t)(sizeof(name) - 1))
#define WS() FN(ws)(s, n, pos, f)

/* A JSON string as json.loads reads it (strict): no control characters, known escapes only.
 * An escape the canonical form would not write (json.dumps with ensure_ascii=False writes
 * \" \\ \b \f \n \r \t, and \u00xx in lowercase for the other control characters) marks
 * the text as another form. */
static int FN(string)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f)
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
        if (sizeof(CHAR_T) > 1 && c >= 0xD800 && c <= 0xDFFF) {
            f->other_form = 1; /* a lone surrogate: no UTF-8 file holds this text as it is */
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
                Py_UCS4 low = s[i + 5];
                int control = s[i + 2] == '0' && s[i + 3] == '0' && (s[i + 4] == '0' || s[i + 4] == '1')
                              && ((low >= '0' && low <= '9') || (low >= 'a' && low <= 'f'));
                if (control) {
                    int v = (s[i + 4] - '0') * 16 + (low <= '9' ? (int)(low - '0') : (int)(low - 'a') + 10);
                    control = v != '\b' && v != '\t' && v != '\n' && v != '\f' && v != '\r';
                }
                if (!control) {
                    f->other_form = 1;
                }
                i += 6;
                continue;
            }
            if (e == '/') {
                f->other_form = 1;
            }
            else if (e != '"' && e != '\\' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
                return 0;
            }
            i += 2;
            continue;
        }
        i++;
    }
    return 0;
}

/* A string value, after any white space. */
static int FN(text)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f)
{
    FN(ws)(s, n, pos, f);
    return FN(string)(s, n, pos, f);
}

/* A box coordinate: an integer in [ck_bbox_min, ck_bbox_max] without leading zeros. */
static int FN(coord)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f, int *value)
{
    FN(ws)(s, n, pos, f);
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
static int FN(box)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f)
{
    int v[4];
    if (!TOK("[")) {
        return 0;
    }
    for (int k = 0; k < 4; k++) {
        if (k && !TOK(",")) {
            return 0;
        }
        if (!FN(coord)(s, n, pos, f, &v[k])) {
            return 0;
        }
    }
    return TOK("]") && v[0] <= v[2] && v[1] <= v[3];
}

/* A list of at most `limit` "#RRGGBB" strings with uppercase hex digits. */
static int FN(palette)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f, int limit)
{
    if (!TOK("[")) {
        return 0;
    }
    if (TOK("]")) {
        return 1;
    }
    for (int count = 1;; count++) {
        if (count > limit || !TOK("\"#")) {
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
        if (TOK("]")) {
            return 1;
        }
        if (!TOK(",")) {
            return 0;
        }
    }
}

static int FN(style)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f)
{
    if (!(TOK("{") && KEY("\"aesthetics\"") && FN(text)(s, n, pos, f) && MEMBER("\"lighting\"")
          && FN(text)(s, n, pos, f))) {
        return 0;
    }
    if (MEMBER("\"photo\"")) {
        if (!(FN(text)(s, n, pos, f) && MEMBER("\"medium\"") && FN(text)(s, n, pos, f))) {
            return 0;
        }
    }
    else if (!(MEMBER("\"medium\"") && FN(text)(s, n, pos, f) && MEMBER("\"art_style\"") && FN(text)(s, n, pos, f))) {
        return 0;
    }
    if (MEMBER("\"color_palette\"") && !FN(palette)(s, n, pos, f, ck_style_palette_max)) {
        return 0;
    }
    return TOK("}");
}

static int FN(element)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f)
{
    int is_text;
    if (!(TOK("{") && KEY("\"type\""))) {
        return 0;
    }
    WS();
    if (LIT("\"obj\"")) {
        is_text = 0;
    }
    else if (LIT("\"text\"")) {
        is_text = 1;
    }
    else {
        return 0;
    }
    if (MEMBER("\"bbox\"") && !FN(box)(s, n, pos, f)) {
        return 0;
    }
    if (is_text && !(MEMBER("\"text\"") && FN(text)(s, n, pos, f))) {
        return 0;
    }
    if (!(MEMBER("\"desc\"") && FN(text)(s, n, pos, f))) {
        return 0;
    }
    if (MEMBER("\"color_palette\"") && !FN(palette)(s, n, pos, f, ck_element_palette_max)) {
        return 0;
    }
    return TOK("}");
}

#define KEYS_KEPT 16 /* an object's key names compared for repeats; past this many, a repeat is assumed */

/* Note the key s[start:end] (quotes included) of an object whose earlier keys are keys[0..*count):
 * a key equal to an earlier one, or one that escapes may make equal to another, or one past
 * KEYS_KEPT, sets found->duplicates ("a key may repeat": json.loads keeps the last value). */
static void FN(note_key)(const CHAR_T *s, struct located *f, Py_ssize_t keys[][2], int *count, Py_ssize_t start,
                         Py_ssize_t end)
{
    if (f->duplicates) {
        return;
    }
    if (*count >= KEYS_KEPT) {
        f->duplicates = 1;
        return;
    }
    for (Py_ssize_t i = start; i < end; i++) {
        if (s[i] == '\\') {
            f->duplicates = 1;
            return;
        }
    }
    for (int k = 0; k < *count; k++) {
        if (keys[k][1] - keys[k][0] == end - start
            && memcmp(s + keys[k][0], s + start, (size_t)(end - start) * sizeof(CHAR_T)) == 0) {
            f->duplicates = 1;
            return;
        }
    }
    keys[*count][0] = start;
    keys[*count][1] = end;
    (*count)++;
}

/* Any JSON value json.loads reads the same way; NaN, Infinity, integers of more than
 * SKIP_MAX_DIGITS digits and nesting deeper than SKIP_MAX_DEPTH are refused (the
 * Python routes decide those). */
static int FN(skip)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f, int depth)
{
    WS();
    Py_ssize_t i = *pos;
    if (i >= n) {
        return 0;
    }
    Py_UCS4 c = s[i];
    if (c == '"') {
        return FN(string)(s, n, pos, f);
    }
    if (c == '{' || c == '[') {
        Py_UCS4 close = c == '{' ? '}' : ']';
        if (depth >= SKIP_MAX_DEPTH) {
            return 0;
        }
        *pos = i + 1;
        WS();
        if (*pos < n && s[*pos] == close) {
            *pos += 1;
            return 1;
        }
        Py_ssize_t keys[KEYS_KEPT][2];
        int nkeys = 0;
        for (;;) {
            if (c == '{') {
                WS();
                Py_ssize_t key_start = *pos;
                if (!FN(string)(s, n, pos, f)) {
                    return 0;
                }
                FN(note_key)(s, f, keys, &nkeys, key_start, *pos);
                if (!TOK(":")) {
                    return 0;
                }
            }
            if (!FN(skip)(s, n, pos, f, depth + 1)) {
                return 0;
            }
            WS();
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

typedef int (*FN(strict_fn))(const CHAR_T *, Py_ssize_t, Py_ssize_t *, struct located *);

/* Check the value at *pos with `strict`; when it does not match, skip it as generic JSON.
 * Returns 0 (matched), 1 (suspect: *start..*pos holds it) or -1 (not readable JSON). */
static int FN(value)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f, FN(strict_fn) strict,
                     Py_ssize_t *start)
{
    WS();
    *start = *pos;
    int other_form = f->other_form;
    if (strict(s, n, pos, f)) {
        return 0;
    }
    f->other_form = other_form; /* what a failed match saw says nothing about the text's form */
    *pos = *start;
    return FN(skip)(s, n, pos, f, 0) ? 1 : -1;
}

/* A known root key's value, seen once: *end is -1 when it matched, else its span's end. */
static int FN(root_value)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, struct located *f, FN(strict_fn) strict,
                          int *seen, Py_ssize_t *start, Py_ssize_t *end)
{
    if ((*seen)++) {
        return 0; /* a duplicate key: json.loads keeps the last value, the full check decides */
    }
    int rc = FN(value)(s, n, pos, f, strict, start);
    *end = rc == 1 ? *pos : -1;
    return rc >= 0;
}

/* Locate what may hold findings. Fills `found` and returns 1, or returns 0 (undecided). */
static int FN(locate)(const CHAR_T *s, Py_ssize_t n, struct located *found)
{
    Py_ssize_t start = 0;
    Py_ssize_t *pos = &start;
    struct located *f = found;
    int seen_hld = 0, seen_style = 0, seen_cd = 0;
    Py_ssize_t unknown_keys[KEYS_KEPT][2];
    int nunknown = 0;
    int rank = 0; /* the canonical rank of the last known root key: their order must not go back */
    if (!TOK("{") || TOK("}")) {
        return 0;
    }
    for (;;) {
        if (KEY("\"high_level_description\"")) {
            if (rank > 0) {
                f->other_form = 1;
            }
            rank = 1;
            if (!FN(root_value)(s, n, pos, f, FN(text), &seen_hld, &found->hld_start, &found->hld_end)) {
                return 0;
            }
        }
        else if (KEY("\"style_description\"")) {
            if (rank > 1) {
                f->other_form = 1;
            }
            rank = 2;
            if (!FN(root_value)(s, n, pos, f, FN(style), &seen_style, &found->style_start, &found->style_end)) {
                return 0;
            }
        }
        else if (KEY("\"compositional_deconstruction\"")) {
            rank = 3;
            if (seen_cd++) {
                return 0;
            }
            if (!(TOK("{") && KEY("\"background\"") && FN(text)(s, n, pos, f) && MEMBER("\"elements\"")
                  && TOK("["))) {
                return 0;
            }
            if (!TOK("]")) {
                for (Py_ssize_t index = 0;; index++) {
                    Py_ssize_t element_start;
                    int rc = FN(value)(s, n, pos, f, FN(element), &element_start);
                    if (rc < 0) {
                        return 0;
                    }
                    if (rc == 1 && !add_span(&found->elements, index, element_start, *pos)) {
                        return -1;
                    }
                    if (TOK("]")) {
                        break;
                    }
                    if (!TOK(",")) {
                        return 0;
                    }
                }
            }
            if (!TOK("}")) {
                return 0;
            }
        }
        else {
            /* an unknown root key: keep where its name is, skip its value */
            WS();
            Py_ssize_t key_start = *pos;
            if (!FN(string)(s, n, pos, f)) {
                return 0;
            }
            if (!add_span(&found->unknown, -1, key_start, *pos)) {
                return -1;
            }
            FN(note_key)(s, f, unknown_keys, &nunknown, key_start, *pos);
            if (!TOK(":") || !FN(skip)(s, n, pos, f, 0)) {
                return 0;
            }
        }
        if (TOK("}")) {
            break;
        }
        if (!TOK(",")) {
            return 0;
        }
    }
    WS();
    return seen_cd && *pos == n;
}

#undef KEYS_KEPT
#undef LIT
#undef TOK
#undef KEY
#undef MEMBER
#undef WS
#undef IS_WS
#undef FN
#undef CAT
#undef CAT_
