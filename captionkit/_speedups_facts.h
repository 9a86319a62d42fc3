/* caption_facts(): what captionkit's own checks (verifier._strict) and the lints
 * (rules.content) read from a caption, taken from its canonical text in one pass, with no
 * dict built. Included by _speedups.c with CHAR_T and SFX defined, the UCS4 instance first
 * (the others decode escaped strings into UCS4 buffers and scan those with it).
 *
 * The caller hands it text that locate() proved canonical and clean. It still reads any
 * text safely: whatever is not a minified caption of the schema's shape (white space, an
 * unknown key, a number where a string belongs, an escape the canonical form does not
 * write) makes it answer None, and the caller takes the parsing route. It decides no rule:
 * it hands back the values the rules look at (the prose as str, boxes as ints, element
 * types) and counts (words, trigger-word bits, prose with no word, palettes with a
 * repeated entry) that the Python rules turn into findings.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

/* f_prose for any text, word by word: skip white space, count a word, then walk its runs of ASCII letters and digits
 * (lowercased); a run whose length and first character some trigger word has is hashed and
 * looked up. Tight loops per run keep the branches the CPU cannot predict to about one a run. */
static void FN(f_prose_scalar)(const CHAR_T *p, Py_ssize_t len, Py_ssize_t *words_out, unsigned long long *bits_out)
{
    Py_ssize_t words = 0;
    unsigned long long bits = 0;
    int everything = 0;
    Py_ssize_t i = 0;
#define F_SPACE(c) ((sizeof(CHAR_T) == 1 || (c) < 256) ? pw_space256[(c)] : (Py_UNICODE_ISSPACE(c) ? 1 : 0))
#define F_LOW(c) ((sizeof(CHAR_T) == 1 || (c) < 256) ? pw_low256[(c)] : ((c) == 0x212A ? 'k' : 0))
    while (i < len) {
        while (i < len && F_SPACE(p[i])) {
            i++;
        }
        if (i >= len) {
            break;
        }
        words++;
        while (i < len) {
            Py_UCS4 c = p[i];
            unsigned char low = F_LOW(c);
            if (low) {
                Py_ssize_t start = i++;
                while (i < len && F_LOW(p[i])) {
                    i++;
                }
                Py_ssize_t run_len = i - start;
                if (run_len <= WORD_MAX && pw_first_len[run_len] & (1u << (low < 'a' ? 26 : low - 'a'))) {
                    unsigned long long h = pw_table.seed;
                    for (Py_ssize_t k = start; k < i; k++) {
                        h = pw_step(h, F_LOW(p[k]));
                    }
                    bits |= pw_bits_of(h);
                }
                continue;
            }
            if (F_SPACE(c)) {
                break;
            }
            if (sizeof(CHAR_T) > 1 && c >= 256) {
                everything |= c == 0x130 || c == 0x131 || c == 0x17F;
            }
            i++;
        }
    }
#undef F_SPACE
#undef F_LOW
    *words_out = words;
    *bits_out = everything ? pw_all() : bits;
}

/* Whether the run p[a:b] of ASCII letters and digits has the length, first and last characters of
 * some trigger word (1 or 0, without a branch). */
#define F_RUN_MAY(p, a, b)                                                                          \
    ((unsigned)((b) - (a) <= WORD_MAX)                                                             \
     & (pw_first_len[((b) - (a)) & 31] >> pw_bit_index[pw_low256[(p)[(a)]]])                       \
     & (pw_last_len[((b) - (a)) & 31] >> pw_bit_index[pw_low256[(p)[(b) - 1]]]) & 1u)

/* The trigger bits of the ASCII run p[a:b] (looked up by its hash). */
static inline unsigned long long FN(f_run_bits)(const CHAR_T *p, Py_ssize_t a, Py_ssize_t b)
{
    unsigned long long h = pw_table.seed;
    for (Py_ssize_t k = a; k < b; k++) {
        h = pw_step(h, pw_low256[p[k]]);
    }
    return pw_bits_of(h);
}

/* bits |= the run's trigger bits, when F_RUN_MAY says it may be a trigger word. */
#define F_RUN_BITS(p, a, b, bits)                                                                   \
    do {                                                                                          \
        if (F_RUN_MAY(p, a, b)) {                                                                 \
            (bits) |= FN(f_run_bits)((p), (a), (b));                                              \
        }                                                                                         \
    } while (0)

/* f_prose on ASCII text, 64 characters at a time from the token estimate's class masks
 * (tk_masks): words are the starts of runs that are not white space (a popcount), and only
 * the runs of letters and digits are visited. 0 (and nothing set) when the text holds a
 * character that is not ASCII: f_prose_scalar reads it then. */
static int FN(f_prose_window)(const CHAR_T *p, Py_ssize_t len, Py_ssize_t *words_out, unsigned long long *bits_out)
{
    Py_ssize_t i = 0, words = 0;
    unsigned long long bits = 0;
    tk_mask prev_ns = 0;  /* 1 when the character before i is not white space */
    Py_ssize_t open = -1; /* the start of a run of letters and digits that goes on at i */
    while (i < len) {
        struct tk_classes cl;
        int cut;
        int got = FN(tk_masks)(p + i, len - i, &cl, &cut);
        if (got > 0) {
            tk_mask below = got == 64 ? ~(tk_mask)0 : (((tk_mask)1 << got) - 1);
            tk_mask ns = ~(cl.spaces | cl.breaks) & below;
            words += (Py_ssize_t)tk_popcount64(ns & ~((ns << 1) | prev_ns));
            prev_ns = (ns >> (got - 1)) & 1;
            tk_mask an = (cl.letters | cl.digits) & below;
            if (open >= 0 && !(an & 1)) {
                F_RUN_BITS(p, open, i, bits);
                open = -1;
            }
            tk_mask starts = an & ~((an << 1) | (tk_mask)(open >= 0));
            tk_mask ends = an & ~(an >> 1); /* each run's last character */
            Py_ssize_t carry = -1;          /* the start of a run that may go on in the next window */
            if (!cut && i + got < len && ((an >> (got - 1)) & 1)) {
                ends &= ~((tk_mask)1 << (got - 1));
                if (starts) {
                    int last = 63 - tk_clz64(starts); /* the last run starts at the last start */
                    starts &= ~((tk_mask)1 << last);
                    carry = i + last;
                }
                else {
                    carry = open; /* the open run goes on through the window */
                    open = -1;
                }
            }
            /* every run that ends here: the candidates kept without a branch, then looked up */
            Py_ssize_t cand[64], cand_end[64];
            int nc = 0;
            if (open >= 0) { /* its end is the first one here */
                Py_ssize_t b = i + tk_ctz64(ends) + 1;
                ends &= ends - 1;
                cand[nc] = open;
                cand_end[nc] = b;
                nc += (int)F_RUN_MAY(p, open, b);
                open = -1;
            }
            while (ends) {
                Py_ssize_t a = i + tk_ctz64(starts), b = i + tk_ctz64(ends) + 1;
                starts &= starts - 1;
                ends &= ends - 1;
                cand[nc] = a;
                cand_end[nc] = b;
                nc += (int)F_RUN_MAY(p, a, b);
            }
            for (int k = 0; k < nc; k++) { /* (F_RUN_MAY holds for each) */
                bits |= FN(f_run_bits)(p, cand[k], cand_end[k]);
            }
            open = carry;
        }
        i += got;
        if (cut) {
            Py_UCS4 c = p[i];
            if (c >= 128) {
                return 0;
            }
            /* an apostrophe or a control character: not a letter or digit, maybe white space */
            tk_mask space = pw_space256[c];
            words += (Py_ssize_t)(!space & !prev_ns);
            prev_ns = !space;
            if (open >= 0) {
                F_RUN_BITS(p, open, i, bits);
                open = -1;
            }
            i++;
        }
    }
    if (open >= 0) {
        F_RUN_BITS(p, open, len, bits);
    }
    *words_out = words;
    *bits_out = bits;
    return 1;
}

/* Words (as str.split() counts them) and trigger-word bits of one decoded string. */
static void FN(f_prose)(const CHAR_T *p, Py_ssize_t len, Py_ssize_t *words_out, unsigned long long *bits_out)
{
    if (!tk_weights.configured || !FN(f_prose_window)(p, len, words_out, bits_out)) {
        FN(f_prose_scalar)(p, len, words_out, bits_out);
    }
}

/* The trigger bits of a decoded string's first two runs of ASCII letters and digits (lowercased):
 * a pattern anchored at the start that allows one leading word (the scene-shell lint's
 * "^\\s*(an?|the)?\\s*(sky|...)") can match only on a word among them. */
static unsigned long long FN(f_lead)(const CHAR_T *p, Py_ssize_t len)
{
    unsigned long long bits = 0;
    Py_ssize_t i = 0;
    for (int run = 0; run < 2; run++) {
        while (i < len && !(p[i] < 256 ? pw_low256[p[i]] : p[i] == 0x212A)) {
            if (p[i] == 0x130 || p[i] == 0x131 || p[i] == 0x17F) {
                return pw_all();
            }
            i++;
        }
        Py_ssize_t start = i;
        unsigned long long h = pw_table.seed;
        while (i < len && (p[i] < 256 ? pw_low256[p[i]] : p[i] == 0x212A)) {
            h = pw_step(h, p[i] < 256 ? pw_low256[p[i]] : 'k');
            i++;
        }
        if (i == start) {
            break;
        }
        if (i - start <= WORD_MAX) {
            bits |= pw_bits_of(h);
        }
    }
    return bits;
}

/* The name of a key at s[*pos] ('"' first), as plain ASCII; 0 if it is not one. */
static int FN(f_key)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, char *name, Py_ssize_t cap)
{
    Py_ssize_t i = *pos;
    if (i >= n || s[i] != '"') {
        return 0;
    }
    Py_ssize_t k = 0;
    for (i++; i < n && s[i] != '"'; i++) {
        Py_UCS4 c = s[i];
        if (k + 1 >= cap || ((c < 'a' || c > 'z') && c != '_')) {
            return 0;
        }
        name[k++] = (char)c;
    }
    if (i + 1 >= n || s[i + 1] != ':') {
        return 0;
    }
    name[k] = 0;
    *pos = i + 2;
    return 1;
}

/* A string value at s[*pos]: a new str (its escapes decoded), or NULL: with an exception set
 * on a memory error, without one when the text is not as expected. With words/bits, also its
 * prose facts. */
/* The first index from i on whose character is '"' or '\\' (n if none): eight bytes at a time
 * where the width allows (a byte-wise zero test on the word XOR the repeated character). */
static inline Py_ssize_t FN(f_skip_plain)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t i)
{
    if (sizeof(CHAR_T) <= 2) {
        const uint64_t ones = sizeof(CHAR_T) == 1 ? 0x0101010101010101ull : 0x0001000100010001ull;
        const uint64_t highs = ones << (8 * sizeof(CHAR_T) - 1);
        const uint64_t quotes = ones * '"', slashes = ones * '\\';
        const Py_ssize_t per = (Py_ssize_t)(8 / sizeof(CHAR_T));
        while (i + per <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            uint64_t a = w ^ quotes, b = w ^ slashes;
            if (((a - ones) & ~a & highs) | ((b - ones) & ~b & highs)) {
                break;
            }
            i += per;
        }
    }
    while (i < n && s[i] != '"' && s[i] != '\\') {
        i++;
    }
    return i;
}

/* Whether a decoded string holds a word (a character that is not white space): 1 or 0. */
static Py_ssize_t FN(f_has_word)(const CHAR_T *p, Py_ssize_t len)
{
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = p[i];
        if (sizeof(CHAR_T) == 1 || c < 256 ? !pw_space256[c] : !Py_UNICODE_ISSPACE(c)) {
            return 1;
        }
    }
    return 0;
}

/* The span of the string value at s[*pos] ('"' first): its characters are s[*start:*end];
 * *escaped says whether it holds an escape. 0 if there is no string there. */
static int FN(f_span)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, Py_ssize_t *start, Py_ssize_t *end,
                      int *escaped)
{
    Py_ssize_t i = *pos;
    if (i >= n || s[i] != '"') {
        return 0;
    }
    *start = ++i;
    *escaped = 0;
    i = FN(f_skip_plain)(s, n, i);
    while (i < n && s[i] != '"') {
        if (s[i] == '\\') {
            *escaped = 1;
            i++;
        }
        i++;
    }
    if (i >= n) {
        return 0;
    }
    *end = i;
    *pos = i + 1;
    return 1;
}

/* Whether a line of `text` (split on "\n", stripped, at least 3 characters) may be in `desc`
 * once both are casefolded, as rules.content's CK607 check compares them: 0 only when it cannot
 * be. Exact for ASCII lines in an ASCII desc (casefold is lower() there); a line whose casefold is
 * not ASCII cannot be in an ASCII desc; anything else may be (1).
 * Here on the characters of a text and a desc that hold no escape. */
static int FN(f_may_repeat)(int tkind, const void *t, Py_ssize_t tn, const CHAR_T *d, Py_ssize_t dn)
{
#define T_(k) PyUnicode_READ(tkind, t, (k))
    int desc_ascii = 1;
    for (Py_ssize_t k = 0; k < dn && desc_ascii; k++) {
        desc_ascii = d[k] < 128;
    }
    Py_ssize_t start = 0;
    while (start <= tn) {
        Py_ssize_t end = start;
        while (end < tn && T_(end) != '\n') {
            end++;
        }
        Py_ssize_t a = start, b = end;
        while (a < b && Py_UNICODE_ISSPACE(T_(a))) {
            a++;
        }
        while (b > a && Py_UNICODE_ISSPACE(T_(b - 1))) {
            b--;
        }
        start = end + 1;
        if (b - a < 3) {
            continue;
        }
        /* 2: ASCII; 1: not ASCII, but its casefold is (every other character casefolds to ASCII:
         * U+00DF, U+017F, U+1E9E, U+212A, U+FB00-U+FB06); 0: its casefold is not ASCII */
        int line_ascii = 2;
        for (Py_ssize_t k = a; k < b && line_ascii; k++) {
            Py_UCS4 c = T_(k);
            if (c >= 128) {
                line_ascii = c == 0xDF || c == 0x17F || c == 0x1E9E || c == 0x212A || (c >= 0xFB00 && c <= 0xFB06);
            }
        }
        if (!line_ascii && desc_ascii) {
            continue; /* (a casefolded ASCII desc is ASCII: it cannot hold this line) */
        }
        if (line_ascii != 2 || !desc_ascii) {
            return 1;
        }
        Py_ssize_t len = b - a;
        unsigned char first = pw_fold[T_(a)];
        for (Py_ssize_t at = 0; at + len <= dn; at++) { /* ASCII in ASCII: casefold is lower() */
            if (pw_fold[d[at]] != first) {
                continue;
            }
            Py_ssize_t k = 1;
            while (k < len && pw_fold[d[at + k]] == pw_fold[T_(a + k)]) {
                k++;
            }
            if (k == len) {
                return 1;
            }
        }
    }
    return 0;
#undef T_
}

/* bits == NULL: only whether the string holds a word (words is 0 or 1). */
static PyObject *FN(f_string)(PyObject *source, const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos,
                              Py_ssize_t *words, unsigned long long *bits)
{
    Py_ssize_t i = *pos;
    if (i >= n || s[i] != '"') {
        return NULL;
    }
    Py_ssize_t start = ++i;
    Py_ssize_t escapes = 0;
    i = FN(f_skip_plain)(s, n, i);
    while (i < n && s[i] != '"') {
        if (s[i] == '\\') {
            escapes++;
            i++;
        }
        i++;
    }
    if (i >= n) {
        return NULL;
    }
    Py_ssize_t end = i;
    *pos = end + 1;
    if (!escapes) {
        if (bits != NULL) {
            FN(f_prose)(s + start, end - start, words, bits);
        }
        else if (words != NULL) {
            *words = FN(f_has_word)(s + start, end - start);
        }
        return PyUnicode_Substring(source, start, end);
    }
    Py_ssize_t cap = end - start;
    Py_UCS4 stack[256];
    Py_UCS4 *buf = cap <= 256 ? stack : PyMem_Malloc(sizeof(Py_UCS4) * (size_t)cap);
    if (buf == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t k = 0;
    int ok = 1;
    for (i = start; i < end && ok; i++) {
        Py_UCS4 c = s[i];
        if (c != '\\') {
            buf[k++] = c;
            continue;
        }
        Py_UCS4 e = s[++i];
        switch (e) {
        case '"': buf[k++] = '"'; break;
        case '\\': buf[k++] = '\\'; break;
        case 'b': buf[k++] = '\b'; break;
        case 'f': buf[k++] = '\f'; break;
        case 'n': buf[k++] = '\n'; break;
        case 'r': buf[k++] = '\r'; break;
        case 't': buf[k++] = '\t'; break;
        case 'u': {
            /* the canonical form escapes only control characters: \u00xx */
            Py_UCS4 v = 0;
            if (i + 4 >= end) {
                ok = 0;
                break;
            }
            for (int d = 1; d <= 4; d++) {
                Py_UCS4 h = s[i + d];
                if (h >= '0' && h <= '9') {
                    v = v * 16 + (h - '0');
                }
                else if (h >= 'a' && h <= 'f') {
                    v = v * 16 + (h - 'a' + 10);
                }
                else {
                    ok = 0;
                }
            }
            if (v >= 0x20) {
                ok = 0;
            }
            buf[k++] = v;
            i += 4;
            break;
        }
        default:
            ok = 0;
        }
    }
    PyObject *out = NULL;
    if (ok) {
        if (bits != NULL) {
            f_prose_ucs4(buf, k, words, bits);
        }
        else if (words != NULL) {
            *words = f_has_word_ucs4(buf, k);
        }
        out = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, k);
    }
    if (buf != stack) {
        PyMem_Free(buf);
    }
    return out;
}


/* A prose value: kept in *slot when slot is given (else dropped); with words_out, its words and
 * trigger bits (else only whether it has a word); counted in empty_prose when it has no word. */
static int FN(f_prose_value)(struct facts *f, const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, PyObject **slot,
                             Py_ssize_t *words_out, unsigned long long *bits_out)
{
    Py_ssize_t words = 0;
    unsigned long long bits = 0;
    PyObject *str = FN(f_string)(f->source, s, n, pos, &words, words_out != NULL ? &bits : NULL);
    if (str == NULL) {
        return 0;
    }
    f->empty_prose += words == 0;
    if (words_out != NULL) {
        *words_out = words;
        *bits_out = bits;
    }
    if (slot != NULL) {
        Py_XSETREF(*slot, str);
    }
    else {
        Py_DECREF(str);
    }
    return 1;
}

/* An opening bracket at s[*pos]: 0 if there is none, 2 for an empty array or object (passed),
 * else 1 with *pos on its first member. */
static int FN(f_open)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, CHAR_T open, CHAR_T close)
{
    Py_ssize_t i = *pos;
    if (i >= n || s[i] != open) {
        return 0;
    }
    i++;
    if (i < n && s[i] == close) {
        *pos = i + 1;
        return 2;
    }
    *pos = i;
    return 1;
}

/* A palette: an array of strings without escapes; counts a repeated entry. */
static int FN(f_palette)(struct facts *f, const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos)
{
    Py_ssize_t i = *pos, starts[64], lens[64], count = 0;
    int opened = FN(f_open)(s, n, &i, '[', ']');
    if (opened != 1) {
        *pos = i;
        return opened != 0;
    }
    for (;;) {
        if (i >= n || s[i] != '"' || count == 64) {
            return 0;
        }
        Py_ssize_t start = ++i;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\') {
                return 0;
            }
            i++;
        }
        if (i >= n) {
            return 0;
        }
        starts[count] = start;
        lens[count++] = i - start;
        i++;
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == ']') {
            break;
        }
        return 0;
    }
    *pos = i + 1;
    for (Py_ssize_t a = 1; a < count; a++) {
        for (Py_ssize_t b = 0; b < a; b++) {
            if (lens[a] == lens[b] && memcmp(s + starts[a], s + starts[b], sizeof(CHAR_T) * (size_t)lens[a]) == 0) {
                f->palette_repeats++;
                return 1;
            }
        }
    }
    return 1;
}

/* A box: four non-negative integers without leading zeros, into v. 0 if there is none. */
static int FN(f_box)(const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, long v[4])
{
    Py_ssize_t i = *pos;
    if (i >= n || s[i] != '[') {
        return 0;
    }
    i++;
    for (int k = 0; k < 4; k++) {
        if (i >= n || s[i] < '0' || s[i] > '9' || (s[i] == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')) {
            return 0;
        }
        long x = 0;
        int digits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 6) {
            x = x * 10 + (long)(s[i++] - '0');
            digits++;
        }
        v[k] = x;
        if (i >= n || s[i] != (k == 3 ? ']' : ',')) {
            return 0;
        }
        i++;
    }
    *pos = i;
    return 1;
}

/* One element object: its facts into f->els; its strings are made later, for suspects only. */
static int FN(f_element)(struct facts *f, const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos)
{
    Py_ssize_t i = *pos;
    char name[32];
    PyObject *kind = NULL;
    struct fel el;
    memset(&el, 0, sizeof el);
    el.text_start = el.desc_start = -1;
    el.overlaps = -1;
    int ok = 0;
    if (i >= n || s[i] != '{') {
        return 0;
    }
    i++;
    for (;;) {
        if (!FN(f_key)(s, n, &i, name, sizeof name)) {
            goto done;
        }
        if (strcmp(name, "type") == 0 && kind == NULL) {
            if ((kind = FN(f_string)(f->source, s, n, &i, NULL, NULL)) == NULL) {
                goto done;
            }
        }
        else if (strcmp(name, "bbox") == 0 && !el.has_box) {
            if (!FN(f_box)(s, n, &i, el.box)) {
                goto done;
            }
            el.has_box = 1;
        }
        else if (strcmp(name, "text") == 0 && el.text_start < 0) {
            if (!FN(f_span)(s, n, &i, &el.text_start, &el.text_end, &el.text_escaped)) {
                goto done;
            }
        }
        else if (strcmp(name, "desc") == 0 && el.desc_start < 0) {
            if (!FN(f_span)(s, n, &i, &el.desc_start, &el.desc_end, &el.desc_escaped)) {
                goto done;
            }
        }
        else if (strcmp(name, "color_palette") == 0) {
            if (!FN(f_palette)(f, s, n, &i)) {
                goto done;
            }
        }
        else {
            goto done;
        }
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == '}') {
            i++;
            break;
        }
        goto done;
    }
    if (kind == NULL || el.desc_start < 0) {
        goto done;
    }
    el.kind = PyUnicode_CompareWithASCIIString(kind, "obj") == 0 ? 0 : PyUnicode_CompareWithASCIIString(kind, "text") == 0 ? 1 : 2;
    if (el.kind == 2) {
        el.kind_str = Py_NewRef(kind); /* (obj and text are handed out as one str each) */
    }
    /* the desc: words, trigger bits, lead bits; the text: whether it has a word */
    if (!el.desc_escaped) {
        FN(f_prose)(s + el.desc_start, el.desc_end - el.desc_start, &el.words, &el.bits);
        el.lead = FN(f_lead)(s + el.desc_start, el.desc_end - el.desc_start);
    }
    else {
        Py_ssize_t at = el.desc_start - 1;
        if ((el.desc_str = FN(f_string)(f->source, s, n, &at, &el.words, &el.bits)) == NULL) {
            goto done;
        }
        el.lead = str_lead(el.desc_str);
    }
    f->empty_prose += el.words == 0;
    if (el.text_start >= 0) {
        Py_ssize_t words = 0;
        if (!el.text_escaped) {
            words = FN(f_has_word)(s + el.text_start, el.text_end - el.text_start);
        }
        else {
            Py_ssize_t at = el.text_start - 1;
            if ((el.text_str = FN(f_string)(f->source, s, n, &at, &words, NULL)) == NULL) {
                goto done;
            }
        }
        f->empty_prose += words == 0;
    }
    if (el.kind == 1 && el.text_start >= 0) {
        if (el.desc_escaped) {
            el.may = 1; /* (a desc with an escape is rare: the lint reads it) */
        }
        else if (el.text_str != NULL) {
            el.may = FN(f_may_repeat)(PyUnicode_KIND(el.text_str), PyUnicode_DATA(el.text_str),
                                      PyUnicode_GET_LENGTH(el.text_str), s + el.desc_start, el.desc_end - el.desc_start);
        }
        else {
            el.may = FN(f_may_repeat)((int)sizeof(CHAR_T), s + el.text_start, el.text_end - el.text_start,
                                      s + el.desc_start, el.desc_end - el.desc_start);
        }
    }
    f->flat_boxes += el.has_box && (el.box[0] == el.box[2] || el.box[1] == el.box[3]);
    if (el.kind == 1 && el.has_box && !note_text_box(f, el.box, &el.overlaps)) {
        goto done;
    }
    if (f->el_count == f->el_cap) {
        Py_ssize_t cap = f->el_cap ? 2 * f->el_cap : 16;
        struct fel *grown = PyMem_Realloc(f->els, sizeof(struct fel) * (size_t)cap);
        if (grown == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        f->els = grown;
        f->el_cap = cap;
    }
    f->els[f->el_count++] = el;
    memset(&el, 0, sizeof el); /* (its references now belong to f->els) */
    *pos = i;
    ok = 1;
done:
    Py_XDECREF(kind);
    Py_XDECREF(el.kind_str);
    Py_XDECREF(el.desc_str);
    Py_XDECREF(el.text_str);
    return ok;
}

/* The root ('r'), the style ('s') or the composition ('c') object. */
static int FN(f_block)(struct facts *f, const CHAR_T *s, Py_ssize_t n, Py_ssize_t *pos, char which)
{
    Py_ssize_t i = *pos;
    char name[40];
    int opened = FN(f_open)(s, n, &i, '{', '}');
    if (opened != 1) {
        *pos = i;
        return opened != 0;
    }
    for (;;) {
        if (!FN(f_key)(s, n, &i, name, sizeof name)) {
            return 0;
        }
        int rc;
        if (which == 'r' && strcmp(name, "high_level_description") == 0 && f->hld == NULL) {
            rc = FN(f_prose_value)(f, s, n, &i, &f->hld, &f->hld_words, &f->hld_bits);
        }
        else if (which == 'r' && strcmp(name, "style_description") == 0) {
            rc = FN(f_block)(f, s, n, &i, 's');
        }
        else if (which == 'r' && strcmp(name, "compositional_deconstruction") == 0 && !f->composition) {
            rc = FN(f_block)(f, s, n, &i, 'c');
            f->composition = 1;
        }
        else if (which == 's' && strcmp(name, "color_palette") == 0) {
            rc = FN(f_palette)(f, s, n, &i);
        }
        else if (which == 's' && strcmp(name, "lighting") == 0) {
            rc = FN(f_prose_value)(f, s, n, &i, &f->lighting, &f->lighting_words, &f->lighting_bits);
        }
        else if (which == 's' && strcmp(name, "medium") == 0) {
            rc = FN(f_prose_value)(f, s, n, &i, &f->medium, NULL, NULL);
        }
        else if (which == 's' && (strcmp(name, "aesthetics") == 0 || strcmp(name, "photo") == 0
                                  || strcmp(name, "art_style") == 0)) {
            f->has_photo |= strcmp(name, "photo") == 0;
            rc = FN(f_prose_value)(f, s, n, &i, NULL, NULL, NULL);
        }
        else if (which == 'c' && strcmp(name, "background") == 0) {
            rc = FN(f_prose_value)(f, s, n, &i, NULL, NULL, NULL);
        }
        else if (which == 'c' && strcmp(name, "elements") == 0) {
            rc = i < n && s[i] == '[';
            if (rc && ++i < n && s[i] == ']') {
                i++;
            }
            else {
                while (rc) {
                    rc = FN(f_element)(f, s, n, &i);
                    if (rc && i < n && s[i] == ',') {
                        i++;
                        continue;
                    }
                    if (rc && i < n && s[i] == ']') {
                        i++;
                        break;
                    }
                    rc = 0;
                }
            }
        }
        else {
            return 0;
        }
        if (!rc) {
            return 0;
        }
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == '}') {
            *pos = i + 1;
            return 1;
        }
        return 0;
    }
}

/* The whole caption: 1 read, 0 not as expected (or an error set). */
static int FN(f_caption)(struct facts *f, const CHAR_T *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    return FN(f_block)(f, s, n, &i, 'r') && f->composition && i == n;
}

/* The value of the four hex digits at p (either case), or 0x10000 (more than any) if one is not. */
static Py_UCS4 FN(f_hex4)(const CHAR_T *p)
{
    Py_UCS4 v = 0;
    for (int t = 0; t < 4; t++) {
        Py_UCS4 h = p[t];
        int digit = h >= '0' && h <= '9' ? (int)(h - '0') : h >= 'a' && h <= 'f' ? (int)(h - 'a') + 10
                    : h >= 'A' && h <= 'F' ? (int)(h - 'A') + 10 : -1;
        if (digit < 0) {
            return 0x10000;
        }
        v = v * 16 + (Py_UCS4)digit;
    }
    return v;
}

/* The canonical text of a clean caption in another layout (what locate() answers False for):
 * white space between tokens dropped, each string written again as json.dumps writes it
 * (escapes of characters it writes as they are decoded, \/ as /, control characters as \n or
 * \u00xx), into out (room for n characters). Returns the length, or -1 when the text is not
 * one the answer is sure for: root keys out of canonical order, a number that is not a plain
 * integer, an escaped or raw surrogate, anything unexpected. */
static Py_ssize_t FN(f_canonical)(const CHAR_T *s, Py_ssize_t n, void *buffer, int wide)
{
    /* out: the text's own width, or UCS4 (wide) when an escape decodes to a wider character */
#define OUT(at, c) (wide ? (void)(((Py_UCS4 *)buffer)[(at)] = (c)) : (void)(((CHAR_T *)buffer)[(at)] = (CHAR_T)(c)))
    const Py_UCS4 limit = sizeof(CHAR_T) == 1 ? 0xFF : sizeof(CHAR_T) == 2 ? 0xFFFF : 0x10FFFF;
    Py_ssize_t i = 0, k = 0;
    int depth = 0, root_rank = -1, expect_key = 0;
    while (i < n) {
        Py_UCS4 c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
            continue;
        }
        if (c == '{') {
            depth++;
            expect_key = 1;
            OUT(k++, c);
            i++;
            continue;
        }
        if (c == '}' || c == ']') {
            depth -= c == '}';
            expect_key = 0;
            OUT(k++, c);
            i++;
            continue;
        }
        if (c == '[' || c == ':') {
            expect_key = 0;
            OUT(k++, c);
            i++;
            continue;
        }
        if (c == ',') {
            expect_key = 1; /* (inside an array the next value is no key; a key is only looked at at depth 1) */
            OUT(k++, c);
            i++;
            continue;
        }
        if (c >= '0' && c <= '9') {
            if (c == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9') {
                return -1;
            }
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                OUT(k++, s[i++]);
            }
            if (i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) {
                return -1;
            }
            continue;
        }
        if (c != '"') {
            return -1; /* (true, false, null, a sign: not in a clean caption's canonical text as read here) */
        }
        Py_ssize_t key_start = k;
        OUT(k++, '"');
        i++;
        for (;;) {
            Py_ssize_t plain = FN(f_skip_plain)(s, n, i); /* characters written as they are */
            for (; i < plain; i++) {
                Py_UCS4 d = s[i];
                if (sizeof(CHAR_T) > 1 && d >= 0xD800 && d <= 0xDFFF) {
                    return -1;
                }
                OUT(k++, d);
            }
            if (i >= n) {
                return -1;
            }
            Py_UCS4 d = s[i];
            if (d == '"') {
                OUT(k++, '"');
                i++;
                break;
            }
            if (sizeof(CHAR_T) > 1 && d >= 0xD800 && d <= 0xDFFF) {
                return -1;
            }
            if (d != '\\') {
                OUT(k++, d);
                i++;
                continue;
            }
            if (i + 1 >= n) {
                return -1;
            }
            Py_UCS4 e = s[i + 1];
            Py_UCS4 v;
            if (e == 'u') {
                if (i + 5 >= n) {
                    return -1;
                }
                v = FN(f_hex4)(s + i + 2);
                if (v > 0xFFFF) {
                    return -1;
                }
                i += 6;
                if (v >= 0xD800 && v <= 0xDBFF && i + 5 < n && s[i] == '\\' && s[i + 1] == 'u') {
                    /* a pair of escaped surrogates is one character */
                    Py_UCS4 low = FN(f_hex4)(s + i + 2);
                    if (low >= 0xDC00 && low <= 0xDFFF) {
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00);
                        i += 6;
                    }
                }
                if (v >= 0xD800 && v <= 0xDFFF) {
                    return -1; /* (a lone surrogate: the parsing route writes it) */
                }
            }
            else {
                v = e == '"' ? '"' : e == '\\' ? '\\' : e == '/' ? '/' : e == 'b' ? '\b' : e == 'f' ? '\f'
                    : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : 0xFFFFFFFF;
                if (v == 0xFFFFFFFF) {
                    return -1;
                }
                i += 2;
            }
            /* written again as json.dumps(ensure_ascii=False) writes it */
            if (v == '"' || v == '\\') {
                OUT(k++, '\\');
                OUT(k++, v);
            }
            else if (v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t') {
                OUT(k++, '\\');
                OUT(k++, v == '\b' ? 'b' : v == '\f' ? 'f' : v == '\n' ? 'n' : v == '\r' ? 'r' : 't');
            }
            else if (v < 0x20) {
                static const char hex[] = "0123456789abcdef";
                OUT(k++, '\\');
                OUT(k++, 'u');
                OUT(k++, '0');
                OUT(k++, '0');
                OUT(k++, hex[v >> 4]);
                OUT(k++, hex[v & 15]);
            }
            else {
                if (v > limit && !wide) {
                    return -2; /* (wider than the text: written again into UCS4) */
                }
                OUT(k++, v);
            }
        }
        if (expect_key && depth == 1) {
            /* a root key: the canonical order is high_level_description, style_description,
             * compositional_deconstruction */
            Py_ssize_t len = k - key_start - 2;
            int rank = len == 22 ? 0 : len == 17 ? 1 : len == 28 ? 2 : -1;
            if (rank < 0 || rank <= root_rank) {
                return -1;
            }
            root_rank = rank;
        }
        expect_key = 0;
    }
    return depth == 0 ? k : -1;
#undef OUT
}

#undef FN
#undef CAT
#undef CAT_
