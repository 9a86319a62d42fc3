/* Optional C accelerator for captionkit's compat verifier.
 *
 * locate(text) reads the str's own buffer (nothing is decoded, converted or
 * allocated) and answers where the official checks may find something:
 *
 * - True: nowhere, and the text is the canonical form of its caption as a
 *   UTF-8 file holds it. It is minified JSON whose root holds only the known
 *   keys, in canonical order, each value in its canonical form (keys in
 *   canonical order, values of the right type and range, palettes of uppercase
 *   hex, box edges in order, strings json.loads reads the same way, with only
 *   the escapes json.dumps writes and no lone surrogate).
 * - False: nowhere either, but the text is not in the canonical form: white
 *   space between tokens (pretty-printed, a final newline), escapes the
 *   canonical form does not write (\u00e9, \/), or root keys in another order.
 * - A tuple of character spans: unknown root key names, and the high-level
 *   description, style and elements whose canonical form did not match. Each
 *   span was checked as JSON json.loads reads; Python parses only those spans
 *   and words the messages with the official walk. Its last item says whether
 *   a key may repeat anywhere (False: every object's keys were seen distinct).
 * - None: undecided (a composition out of shape, duplicate root keys, numbers
 *   or nesting json.loads may refuse); the Python routes decide.
 *
 * unicode_escapes(text) finds what the official ensure-ASCII check's regular
 * expression finds (\uXXXX escapes of non-ASCII code points) and estimate(text)
 * computes the token estimate of captionkit.tokens; both are compared with
 * their Python twins by tests.
 *
 * Built by hatch_build.py when a C compiler is available; captionkit works
 * the same without it.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The token estimate adds floats in a fixed order and must match Python's float arithmetic bit
 * for bit: no fused multiply-add (the build passes -ffp-contract=off as well). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* The schema's numeric limits. They are not written here: captionkit.compat passes them from
 * captionkit._spec through configure() when it loads this module, and until then locate()
 * decides nothing (returns None). The key names in _speedups_scan.h are compared with
 * captionkit._spec by a test. */
static int ck_configured = 0;
static int ck_bbox_min = 0;
static int ck_bbox_max = 0;
static int ck_style_palette_max = 0;
static int ck_element_palette_max = 0;

static inline int is_hex_upper(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static inline int is_hex_any_case(Py_UCS4 c)
{
    return is_hex_upper(c) || (c >= 'a' && c <= 'f');
}

#define SKIP_MAX_DEPTH 200   /* far below compat.MAX_DEPTH, the depth rule every route applies */
#define SKIP_MAX_DIGITS 640  /* json.loads may refuse more: 640 is the lowest digit limit CPython allows */

/* What locate() found: spans of text that may hold findings. */
struct located {
    PyObject *unknown;  /* list of (start, end) of unknown root key names, or NULL */
    PyObject *elements; /* list of (index, start, end) of suspect elements, or NULL */
    Py_ssize_t hld_start, hld_end, style_start, style_end; /* end -1: clean or absent */
    int other_form; /* white space, escapes or a root order the canonical form does not have */
    int duplicates; /* a key may repeat in an object the scan skipped (a suspect or an unknown value) */
};

/* Append (start, end) or (index, start, end) to *list, creating it on first use. */
static int add_span(PyObject **list, Py_ssize_t index, Py_ssize_t start, Py_ssize_t end)
{
    if (*list == NULL && (*list = PyList_New(0)) == NULL) {
        return 0;
    }
    PyObject *item = index < 0 ? Py_BuildValue("(nn)", start, end) : Py_BuildValue("(nnn)", index, start, end);
    if (item == NULL) {
        return 0;
    }
    int rc = PyList_Append(*list, item);
    Py_DECREF(item);
    return rc == 0;
}

/* 1 when obj is a str ready to be read in place; else 0 with a TypeError naming the function. */
static int readable_str(PyObject *obj, const char *function)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s() expects a str", function);
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000 /* strings are always ready from 3.12 on */
    if (PyUnicode_READY(obj) < 0) {
        return 0;
    }
#endif
    return 1;
}

#define CHAR_T Py_UCS1
#define SFX _ucs1
#include "_speedups_scan.h"
#undef CHAR_T
#undef SFX

#define CHAR_T Py_UCS2
#define SFX _ucs2
#include "_speedups_scan.h"
#undef CHAR_T
#undef SFX

#define CHAR_T Py_UCS4
#define SFX _ucs4
#include "_speedups_scan.h"
#undef CHAR_T
#undef SFX

/* -- the token estimate (captionkit.tokens) ------------------------------------------------ */

/* Character classes as Python's re module sees them in a str pattern (\s; \w is alphanumeric
 * or '_'; \d is decimal) and as str.isalpha / str.isdigit see them, combined the way the
 * estimate's pattern uses them. */
#define TK_SPACE 1u     /* \s */
#define TK_DECIMAL 4u   /* \d */
#define TK_ALPHA 8u     /* str.isalpha */
#define TK_DIGIT 16u    /* str.isdigit */
#define TK_LETTER 32u   /* [^\W\d_]: a word character that is neither a decimal digit nor '_' */
#define TK_PUNCT 64u    /* [^\s\w] */
#define TK_PREFIX 128u  /* [^\r\n\w] */

static unsigned tk_class_of(Py_UCS4 c)
{
    unsigned k = 0;
    int word = Py_UNICODE_ISALNUM(c) || c == '_';
    int space = Py_UNICODE_ISSPACE(c);
    int decimal = Py_UNICODE_ISDECIMAL(c);
    if (space) {
        k |= TK_SPACE;
    }
    if (decimal) {
        k |= TK_DECIMAL;
    }
    if (Py_UNICODE_ISALPHA(c)) {
        k |= TK_ALPHA;
    }
    if (Py_UNICODE_ISDIGIT(c)) {
        k |= TK_DIGIT;
    }
    if (word && !decimal && c != '_') {
        k |= TK_LETTER;
    }
    if (!word && !space) {
        k |= TK_PUNCT;
    }
    if (!word && c != '\r' && c != '\n') {
        k |= TK_PREFIX;
    }
    return k;
}

static unsigned char tk_latin1[256]; /* filled at module load */
/* The same for every code point below U+10000: filled when estimate() first meets a str that is
 * not Latin-1 (it takes about a millisecond, which an import should not pay). */
static unsigned char tk_bmp[0x10000];
static int tk_bmp_filled = 0;

static void tk_fill_bmp(void)
{
    for (Py_UCS4 c = 0; c < 0x10000; c++) {
        tk_bmp[c] = (unsigned char)tk_class_of(c);
    }
    tk_bmp_filled = 1;
}

/* The weights, passed from captionkit.tokens by configure_estimate() (never written here). */
static struct {
    int configured;
    double per_digit, per_word, per_long_letter, per_non_ascii_letter, per_glued_word;
    double per_non_ascii_symbol, per_punct_run;
    Py_ssize_t long_word, punct_group;
} tk_weights;

/* Add one increment: to the float total in order (as Python adds them), and its whole
 * number of hundredths (round-half-even, as Python's round()) to the exact sum. */
static inline void tk_add(double increment, double *total, long long *exact)
{
    *total += increment;
    *exact += (long long)nearbyint(100.0 * increment);
}

/* The increments that depend on a count, worked out once for small counts (configure_estimate):
 * a word of k ASCII letters, k non-ASCII letters, and a run of punctuation with no letters; up to
 * 64, as many characters as a window (below) holds. */
#define TK_TABLE 65
static struct {
    double value;
    long long hundredths;
} tk_word[TK_TABLE], tk_non_ascii[TK_TABLE], tk_punct[TK_TABLE], tk_digit, tk_glued;

static inline long long tk_hundredths(double value)
{
    return (long long)nearbyint(100.0 * value);
}

static void tk_entry(double value, double *out_value, long long *out_hundredths)
{
    *out_value = value;
    *out_hundredths = tk_hundredths(value);
}

/* The window (_speedups_tokens.h) cuts and weighs up to 64 ASCII characters at once, from bit
 * masks of their classes (bit j: character j). Its classes of each ASCII character; the others
 * end a window. ASCII characters of none of these classes are marks ([^\s\w]). */
typedef unsigned long long tk_mask;
#define TKW_LETTER_BIT 0
#define TKW_DIGIT_BIT 1
#define TKW_SPACE_BIT 2      /* ' ' */
#define TKW_BREAK_BIT 3      /* '\n', '\r' */
#define TKW_UNDERSCORE_BIT 4
#define TKW_QUOTE_BIT 5      /* an apostrophe: a mark, but it may start a contraction */
#define TKW_STOP_BIT 6       /* the control characters but line breaks, among them the other white space */
static unsigned char tk_window_class[129]; /* [128]: any character that is not ASCII */

struct tk_classes {
    tk_mask letters, digits, spaces, breaks, underscores, quotes;
};

struct tk_sums {
    double total;
    long long exact;
    Py_ssize_t pieces;
};

/* A window that cuts fewer than TK_WINDOW_GOOD characters costs about what the piece loop would.
 * After one, the loop goes on alone for TK_WINDOW_PAUSE * 2 characters past where the window
 * stopped, and after each further one in a row twice as far, up to TK_WINDOW_PAUSE * 2^7 (text
 * that is mostly not ASCII, or full of what ends a window, costs the loop's time and little more). */
#define TK_WINDOW_GOOD 16
#define TK_WINDOW_PAUSE 4
#define TK_WINDOW_BACKOFF 7

/* It adds the pieces up by counts: so many digits, words, letters past a word's long_word-th,
 * glued words, and started groups of characters of plain pieces, each count times a fixed weight
 * in hundredths. configure_estimate() turns it on where that is what the tables say for every
 * word and run a window can hold (and long_word and punct_group are at most 32, which keeps its
 * loops short). For the float sum it adds each piece's increments in order: the first from
 * tk_fast_value (row 0: a digit; 1: a plain piece of k characters; 2: a word of k letters). */
static struct {
    int on;
    int long_word, group;
    long long digit, word, long_letter, glued, run;
} tk_fast;
static double tk_fast_value[3][TK_TABLE];

/* SSE2 is part of x86-64; -DTK_NO_SIMD builds the portable loop alone (tests compare the two). */
#if !defined(TK_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64))
#include <emmintrin.h>
#define TK_SSE2 1
#else
#define TK_SSE2 0
#endif

static inline int tk_ctz64(tk_mask x) /* x != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(x);
#else
    int k = 0;
    for (; !(x & 1u); x >>= 1) {
        k++;
    }
    return k;
#endif
}

static inline int tk_clz64(tk_mask x) /* x != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_clzll(x);
#else
    int k = 0;
    for (; !(x >> 63); x <<= 1) {
        k++;
    }
    return k;
#endif
}

/* Bit `bit` of each of the eight bytes of x, as eight bits (byte t's is bit t). */
static inline unsigned tk_gather8(tk_mask x, int bit)
{
    return (unsigned)((((x << (7 - bit)) & 0x8080808080808080ull) * 0x0002040810204081ull) >> 56);
}

static inline long long tk_popcount64(tk_mask x)
{
#if defined(__POPCNT__)
    return __builtin_popcountll(x);
#else
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (long long)((x * 0x0101010101010101ull) >> 56);
#endif
}

static inline double tk_word_value(Py_ssize_t ascii_letters)
{
    Py_ssize_t longer = ascii_letters - tk_weights.long_word;
    double extra = tk_weights.per_long_letter * (double)(longer > 0 ? longer : 0);
    return tk_weights.per_word + extra;
}

static inline double tk_punct_value(Py_ssize_t non_ascii, Py_ssize_t rest)
{
    Py_ssize_t runs = (rest + tk_weights.punct_group - 1) / tk_weights.punct_group;
    double symbols = tk_weights.per_non_ascii_symbol * (double)non_ascii;
    double punct = tk_weights.per_punct_run * (double)runs;
    return symbols + punct;
}

#define CHAR_T Py_UCS1
#define SFX _ucs1
#include "_speedups_tokens.h"
#undef CHAR_T
#undef SFX

#define CHAR_T Py_UCS2
#define SFX _ucs2
#include "_speedups_tokens.h"
#undef CHAR_T
#undef SFX

#define CHAR_T Py_UCS4
#define SFX _ucs4
#include "_speedups_tokens.h"
#undef CHAR_T
#undef SFX

static PyObject *estimate(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *text;
    int with_total = 0;
    if (!PyArg_ParseTuple(args, "O|p:estimate", &text, &with_total)) {
        return NULL;
    }
    if (!readable_str(text, "estimate")) {
        return NULL;
    }
    if (!tk_weights.configured) {
        PyErr_SetString(PyExc_RuntimeError, "estimate(): configure_estimate() was not called");
        return NULL;
    }
    double total = 0.0;
    long long exact = 0;
    Py_ssize_t pieces = 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    if (PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND && !tk_bmp_filled) {
        tk_fill_bmp();
    }
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        tk_estimate_ucs1((const Py_UCS1 *)data, n, with_total, &total, &exact, &pieces);
        break;
    case PyUnicode_2BYTE_KIND:
        tk_estimate_ucs2((const Py_UCS2 *)data, n, with_total, &total, &exact, &pieces);
        break;
    default:
        tk_estimate_ucs4((const Py_UCS4 *)data, n, with_total, &total, &exact, &pieces);
        break;
    }
    if (!with_total) {
        return Py_BuildValue("(LOn)", exact, Py_None, pieces);
    }
    return Py_BuildValue("(Ldn)", exact, total, pieces);
}

/* Whether the window's counts give the weights the tables hold for every word and plain piece
 * it can see (up to 64 characters); see tk_fast. */
static int tk_window_fits(void)
{
    Py_ssize_t long_word = tk_weights.long_word, group = tk_weights.punct_group;
    if (long_word > 32 || group > 32) {
        return 0;
    }
    tk_fast.long_word = (int)long_word;
    tk_fast.group = (int)group;
    tk_fast.digit = tk_digit.hundredths;
    tk_fast.glued = tk_glued.hundredths;
    tk_fast.word = tk_hundredths(tk_word_value(0));
    tk_fast.long_letter = tk_hundredths(tk_word_value(long_word + 1)) - tk_hundredths(tk_word_value(long_word));
    tk_fast.run = tk_hundredths(tk_punct_value(0, 1));
    for (Py_ssize_t k = 1; k < TK_TABLE; k++) {
        Py_ssize_t past = k > long_word ? k - long_word : 0;
        if (tk_word[k].hundredths != tk_fast.word + tk_fast.long_letter * past
            || tk_punct[k].hundredths != tk_fast.run * ((k + group - 1) / group)) {
            return 0;
        }
    }
    return 1;
}

static PyObject *configure_estimate(PyObject *module, PyObject *args)
{
    (void)module;
    double w[7];
    Py_ssize_t long_word, punct_group;
    if (!PyArg_ParseTuple(args, "dddddddnn:configure_estimate", &w[0], &w[1], &w[2], &w[3], &w[4], &w[5], &w[6],
                          &long_word, &punct_group)) {
        return NULL;
    }
    if (long_word < 0 || punct_group < 1) {
        PyErr_SetString(PyExc_ValueError, "configure_estimate(): a word length below 0 or a group below 1");
        return NULL;
    }
    tk_weights.per_digit = w[0];
    tk_weights.per_word = w[1];
    tk_weights.per_long_letter = w[2];
    tk_weights.per_non_ascii_letter = w[3];
    tk_weights.per_glued_word = w[4];
    tk_weights.per_non_ascii_symbol = w[5];
    tk_weights.per_punct_run = w[6];
    tk_weights.long_word = long_word;
    tk_weights.punct_group = punct_group;
    for (Py_ssize_t k = 0; k < TK_TABLE; k++) {
        tk_entry(tk_word_value(k), &tk_word[k].value, &tk_word[k].hundredths);
        tk_entry(tk_weights.per_non_ascii_letter * (double)k, &tk_non_ascii[k].value, &tk_non_ascii[k].hundredths);
        tk_entry(tk_punct_value(0, k), &tk_punct[k].value, &tk_punct[k].hundredths);
    }
    tk_entry(tk_weights.per_digit, &tk_digit.value, &tk_digit.hundredths);
    tk_entry(tk_weights.per_glued_word, &tk_glued.value, &tk_glued.hundredths);
    for (int k = 0; k < TK_TABLE; k++) {
        tk_fast_value[0][k] = tk_digit.value;
        tk_fast_value[1][k] = tk_punct[k].value;
        tk_fast_value[2][k] = tk_word[k].value;
    }
    for (int c = 0; c <= 128; c++) {
        int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int bit = letter                   ? TKW_LETTER_BIT
                  : c >= '0' && c <= '9'   ? TKW_DIGIT_BIT
                  : c == ' '               ? TKW_SPACE_BIT
                  : c == '\n' || c == '\r' ? TKW_BREAK_BIT
                  : c == '_'               ? TKW_UNDERSCORE_BIT
                  : c == '\''              ? TKW_QUOTE_BIT
                  : c < 0x20 || c == 128   ? TKW_STOP_BIT
                                           : -1; /* a mark */
        tk_window_class[c] = (unsigned char)(bit < 0 ? 0 : 1u << bit);
    }
    tk_fast.on = tk_window_fits();
    tk_weights.configured = 1;
    return PyBool_FromLong(tk_fast.on);
}

/* -- facts about prose for captionkit's lints (captionkit.rules.content) ------------------------ */

/* The lints' trigger words, set by configure_words() from captionkit.rules.content: ASCII
 * lowercase letters and digits, at most 64 words of at most WORD_MAX characters. A word is
 * found by a 64-bit hash of its characters in a table of PW_SLOTS slots: the scan hashes every
 * run as it goes and looks the hash up where the run ends, with no branch on the text. Two
 * different runs could share a hash; a run taken for a trigger word it is not would only make
 * a pattern run that then finds nothing (a trigger word only ever means "look"). */
#define WORD_MAX 24
#define WORDS_MAX 64
#define PW_SLOTS 4096
#define PW_OFFSET 1469598103934665603ull
#define PW_PRIME 1099511628211ull

static struct {
    int count;
    unsigned long long seed;
    unsigned long long hash[PW_SLOTS];
    unsigned long long bit[PW_SLOTS];
} pw_table;

static inline unsigned long long pw_step(unsigned long long h, unsigned char low)
{
    return (h ^ low) * PW_PRIME;
}

static inline size_t pw_slot_of(unsigned long long h)
{
    return (size_t)((h ^ (h >> 29)) & (PW_SLOTS - 1));
}

/* The bit of the trigger word whose hash is h, or 0 (a run that is no trigger word). */
static inline unsigned long long pw_bits_of(unsigned long long h)
{
    size_t slot = pw_slot_of(h);
    return pw_table.hash[slot] == h ? pw_table.bit[slot] : 0;
}

/* Per Latin-1 character: what it lowercases to if that is an ASCII letter or digit (else 0),
 * and whether it is white space (str.isspace). */
static unsigned char pw_low256[256];
static unsigned char pw_fold[256]; /* ASCII upper case to lower case, every other byte as it is */
static unsigned char pw_space256[256];

/* Per run length: the first characters of the trigger words of that length (bit c - 'a' for a
 * letter, bit 26 for a digit). A run whose first character and length no word has is not hashed. */
static unsigned pw_first_len[32];
static unsigned pw_last_len[32]; /* the same for the last characters (both: 0 past WORD_MAX) */
static unsigned char pw_bit_index[256]; /* a lowercased letter's bit in those (c - 'a'), 26 for the rest */

static inline unsigned long long pw_all(void)
{
    return pw_table.count >= 64 ? ~0ull : (1ull << pw_table.count) - 1;
}

/* f_prose (in _speedups_facts.h) scans one string: its number of words as str.split() counts
 * them (runs of characters that are not white space), and the bits of the trigger words among
 * its runs of ASCII letters and digits after str.lower(), as rules.content._tokens cuts them.
 * Characters that str.lower() turns into ASCII letters: U+212A (the Kelvin sign, to 'k') is
 * read as 'k'; U+0130 (to 'i' and a combining dot) and the two that re.IGNORECASE matches with
 * ASCII letters (U+0131, U+017F) make every bit set: every pattern then runs. */
/* What caption_facts() gathers (see _speedups_facts.h). */
struct fel {                /* one element */
    Py_ssize_t words;       /* of its desc */
    unsigned long long bits, lead; /* trigger bits of its desc, and of the desc's first two runs */
    int kind;               /* 0 obj, 1 text, 2 another type (kind_str) */
    int may;                /* a line of its text may be in its desc (CK607 looks) */
    Py_ssize_t overlaps;    /* the first earlier text element whose box its box overlaps (CK609), or -1 */
    long box[4];
    int has_box;
    Py_ssize_t desc_start, desc_end, text_start, text_end; /* the values' characters (text_start -1: none) */
    int desc_escaped, text_escaped;
    PyObject *desc_str, *text_str, *kind_str; /* made on the way when escaped (or another type), else NULL */
};

struct facts {
    PyObject *source;
    PyObject *hld, *lighting, *medium;
    int has_photo, composition;
    Py_ssize_t hld_words, lighting_words;
    unsigned long long hld_bits, lighting_bits;
    Py_ssize_t empty_prose, palette_repeats, flat_boxes;
    struct fel *els;
    Py_ssize_t el_count, el_cap;
    long (*text_boxes)[5];  /* the text elements' boxes and indices, to find overlaps */
    Py_ssize_t text_box_count, text_box_cap;
};

/* The element types, one str each (caption_facts hands these out instead of new ones). */
static PyObject *f_obj, *f_text;

/* The lints' thresholds, set by configure_lints() from captionkit.rules.content: an element is
 * a suspect (the lints look at it) unless its desc has desc_min..desc_max words and no phrase bit,
 * an obj's desc has no shell bit among its first two runs, and a text element's text checks
 * (CK607, CK609) cannot fire. Until then every element is a suspect. */
static int ck_lints_configured = 0;
static Py_ssize_t ck_desc_min, ck_desc_max;
static unsigned long long ck_phrase_bits, ck_shell_bits;


/* Note a text element's box; *overlaps: the first earlier text element whose box it overlaps (as
 * rules.content's CK609 check tests it), else left as is. 0 on a memory error. */
static int note_text_box(struct facts *f, const long box[4], Py_ssize_t *overlaps)
{
    for (Py_ssize_t j = 0; j < f->text_box_count; j++) {
        const long *o = f->text_boxes[j];
        if ((box[2] < o[2] ? box[2] : o[2]) > (box[0] > o[0] ? box[0] : o[0])
            && (box[3] < o[3] ? box[3] : o[3]) > (box[1] > o[1] ? box[1] : o[1])) {
            *overlaps = o[4];
            break;
        }
    }
    if (f->text_box_count == f->text_box_cap) {
        Py_ssize_t cap = f->text_box_cap ? 2 * f->text_box_cap : 16;
        long (*grown)[5] = PyMem_Realloc(f->text_boxes, sizeof(long[5]) * (size_t)cap);
        if (grown == NULL) {
            PyErr_NoMemory();
            return 0;
        }
        f->text_boxes = grown;
        f->text_box_cap = cap;
    }
    long *slot = f->text_boxes[f->text_box_count++];
    memcpy(slot, box, sizeof(long[4]));
    slot[4] = (long)f->el_count;
    return 1;
}

static unsigned long long f_lead_ucs1(const Py_UCS1 *p, Py_ssize_t len);
static unsigned long long f_lead_ucs2(const Py_UCS2 *p, Py_ssize_t len);
static unsigned long long f_lead_ucs4(const Py_UCS4 *p, Py_ssize_t len);

static unsigned long long str_lead(PyObject *str)
{
    const void *data = PyUnicode_DATA(str);
    Py_ssize_t n = PyUnicode_GET_LENGTH(str);
    switch (PyUnicode_KIND(str)) {
    case PyUnicode_1BYTE_KIND:
        return f_lead_ucs1((const Py_UCS1 *)data, n);
    case PyUnicode_2BYTE_KIND:
        return f_lead_ucs2((const Py_UCS2 *)data, n);
    default:
        return f_lead_ucs4((const Py_UCS4 *)data, n);
    }
}

#define CHAR_T Py_UCS4
#define SFX _ucs4
#include "_speedups_facts.h"
#undef CHAR_T
#undef SFX

#define CHAR_T Py_UCS2
#define SFX _ucs2
#include "_speedups_facts.h"
#undef CHAR_T
#undef SFX

#define CHAR_T Py_UCS1
#define SFX _ucs1
#include "_speedups_facts.h"
#undef CHAR_T
#undef SFX

static PyObject *prose_facts(PyObject *module, PyObject *strings)
{
    (void)module;
    if (!PyList_Check(strings)) {
        PyErr_SetString(PyExc_TypeError, "prose_facts() expects a list of str");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(strings);
    PyObject *counts = PyList_New(count);
    PyObject *masks = counts ? PyList_New(count) : NULL;
    if (masks == NULL) {
        Py_XDECREF(counts);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *text = PyList_GET_ITEM(strings, k);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "prose_facts() expects a list of str");
            goto fail;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(text) < 0) {
            goto fail;
        }
#endif
        Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        const void *data = PyUnicode_DATA(text);
        Py_ssize_t words = 0;
        unsigned long long bits = 0;
        switch (PyUnicode_KIND(text)) {
        case PyUnicode_1BYTE_KIND:
            f_prose_ucs1((const Py_UCS1 *)data, n, &words, &bits);
            break;
        case PyUnicode_2BYTE_KIND:
            f_prose_ucs2((const Py_UCS2 *)data, n, &words, &bits);
            break;
        default:
            f_prose_ucs4((const Py_UCS4 *)data, n, &words, &bits);
            break;
        }
        PyObject *w = PyLong_FromSsize_t(words);
        PyObject *m = w ? PyLong_FromUnsignedLongLong(bits) : NULL;
        if (m == NULL) {
            Py_XDECREF(w);
            goto fail;
        }
        PyList_SET_ITEM(counts, k, w);
        PyList_SET_ITEM(masks, k, m);
    }
    return Py_BuildValue("(NN)", counts, masks);
fail:
    Py_DECREF(counts);
    Py_DECREF(masks);
    return NULL;
}

static unsigned long long pw_hash(const char *word, Py_ssize_t len, unsigned long long seed)
{
    unsigned long long h = seed;
    for (Py_ssize_t i = 0; i < len; i++) {
        h = pw_step(h, (unsigned char)word[i]);
    }
    return h;
}

static PyObject *configure_words(PyObject *module, PyObject *vocabulary)
{
    (void)module;
    if (!PyTuple_Check(vocabulary) || PyTuple_GET_SIZE(vocabulary) > WORDS_MAX) {
        PyErr_SetString(PyExc_ValueError, "configure_words() expects a tuple of at most 64 str");
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(vocabulary);
    const char *words[WORDS_MAX];
    Py_ssize_t lens[WORDS_MAX];
    for (Py_ssize_t w = 0; w < count; w++) {
        PyObject *word = PyTuple_GET_ITEM(vocabulary, w);
        const char *utf8 = PyUnicode_Check(word) ? PyUnicode_AsUTF8AndSize(word, &lens[w]) : NULL;
        int ok = utf8 != NULL && lens[w] >= 1 && lens[w] <= WORD_MAX;
        for (Py_ssize_t i = 0; ok && i < lens[w]; i++) {
            ok = (utf8[i] >= 'a' && utf8[i] <= 'z') || (utf8[i] >= '0' && utf8[i] <= '9');
        }
        if (!ok) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "configure_words(): each word is 1 to 24 ASCII letters or digits");
            return NULL;
        }
        words[w] = utf8;
    }
    /* a seed under which every word has a slot of its own */
    for (unsigned long long seed = PW_OFFSET;; seed += 0x9E3779B97F4A7C15ull) {
        memset(pw_table.hash, 0, sizeof(pw_table.hash));
        memset(pw_table.bit, 0, sizeof(pw_table.bit));
        int clash = 0;
        for (Py_ssize_t w = 0; w < count && !clash; w++) {
            unsigned long long h = pw_hash(words[w], lens[w], seed);
            size_t slot = pw_slot_of(h);
            if (pw_table.bit[slot]) {
                clash = 1;
                break;
            }
            pw_table.hash[slot] = h;
            pw_table.bit[slot] = 1ull << w;
        }
        /* (a slot no word holds has a bit of 0: a run that matches its hash adds nothing) */
        if (!clash) {
            pw_table.seed = seed;
            break;
        }
    }
    pw_table.count = (int)count;
    memset(pw_first_len, 0, sizeof(pw_first_len));
    memset(pw_last_len, 0, sizeof(pw_last_len));
    for (Py_ssize_t w = 0; w < count; w++) {
        char first = words[w][0], last = words[w][lens[w] - 1];
        pw_first_len[lens[w]] |= 1u << (first >= 'a' ? first - 'a' : 26);
        pw_last_len[lens[w]] |= 1u << (last >= 'a' ? last - 'a' : 26);
    }
    Py_RETURN_NONE;
}

static PyObject *caption_facts(PyObject *module, PyObject *text_obj)
{
    (void)module;
    if (!readable_str(text_obj, "caption_facts")) {
        return NULL;
    }
    struct facts f;
    memset(&f, 0, sizeof f);
    f.source = text_obj;
    PyObject *result = NULL, *words = NULL, *masks = NULL, *suspects = NULL, *overlapping = NULL;
    PyObject *kinds = NULL, *boxes = NULL, *texts = NULL, *descs = NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text_obj);
    const void *data = PyUnicode_DATA(text_obj);
    int kind = PyUnicode_KIND(text_obj);
    int rc;
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        rc = f_caption_ucs1(&f, (const Py_UCS1 *)data, n);
        break;
    case PyUnicode_2BYTE_KIND:
        rc = f_caption_ucs2(&f, (const Py_UCS2 *)data, n);
        break;
    default:
        rc = f_caption_ucs4(&f, (const Py_UCS4 *)data, n);
        break;
    }
    if (PyErr_Occurred()) {
        goto done;
    }
    if (!rc) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    /* words and masks: the high-level description's, the lighting's, then each desc's */
    Py_ssize_t count = f.el_count;
    words = PyList_New(count + 2);
    masks = PyList_New(count + 2);
    suspects = PyList_New(0);
    overlapping = PyDict_New();
    kinds = PyList_New(count);
    boxes = PyList_New(count);
    texts = PyList_New(count);
    descs = PyList_New(count);
    if (words == NULL || masks == NULL || suspects == NULL || overlapping == NULL || kinds == NULL || boxes == NULL
        || texts == NULL || descs == NULL) {
        goto done;
    }
    /* repeated descs (equal values have equal canonical text); -1: too many elements to compare */
    int repeats = count > 512 ? -1 : 0;
    for (Py_ssize_t a = 1; a < count && repeats == 0; a++) {
        Py_ssize_t la = f.els[a].desc_end - f.els[a].desc_start;
        for (Py_ssize_t b = 0; b < a; b++) {
            if (f.els[b].desc_end - f.els[b].desc_start == la
                && memcmp((const char *)data + f.els[a].desc_start * kind, (const char *)data + f.els[b].desc_start * kind,
                          (size_t)(la * kind)) == 0) {
                repeats = 1;
                break;
            }
        }
    }
    for (Py_ssize_t k = 0; k < count + 2; k++) {
        struct fel *el = k >= 2 ? &f.els[k - 2] : NULL;
        PyObject *w = PyLong_FromSsize_t(el ? el->words : k == 0 ? f.hld_words : f.lighting_words);
        if (w == NULL) {
            goto done;
        }
        PyList_SET_ITEM(words, k, w);
        PyObject *m = PyLong_FromUnsignedLongLong(el ? el->bits : k == 0 ? f.hld_bits : f.lighting_bits);
        if (m == NULL) {
            goto done;
        }
        PyList_SET_ITEM(masks, k, m);
        if (el == NULL) {
            continue;
        }
        Py_ssize_t i = k - 2;
        PyList_SET_ITEM(kinds, i, Py_NewRef(el->kind == 0 ? f_obj : el->kind == 1 ? f_text : el->kind_str));
        if (el->overlaps >= 0) {
            PyObject *key = PyLong_FromSsize_t(i), *value = PyLong_FromSsize_t(el->overlaps);
            int bad = key == NULL || value == NULL || PyDict_SetItem(overlapping, key, value) < 0;
            Py_XDECREF(key);
            Py_XDECREF(value);
            if (bad) {
                goto done;
            }
        }
        int suspect = !ck_lints_configured || el->kind == 2 || el->words < ck_desc_min || el->words > ck_desc_max
                      || (el->bits & ck_phrase_bits) || (el->kind == 0 && (el->lead & ck_shell_bits))
                      || (el->kind == 1 && (el->may || el->overlaps >= 0));
        /* the values: for suspects only (the lints read no other) */
        PyObject *box = Py_None, *text = Py_None, *desc = Py_None;
        Py_INCREF(Py_None);
        Py_INCREF(Py_None);
        Py_INCREF(Py_None);
        if (suspect) {
            PyObject *index = PyLong_FromSsize_t(i);
            int bad = index == NULL || PyList_Append(suspects, index) < 0;
            Py_XDECREF(index);
            if (el->has_box) {
                Py_SETREF(box, Py_BuildValue("[llll]", el->box[0], el->box[1], el->box[2], el->box[3]));
            }
            if (el->text_start >= 0) {
                Py_SETREF(text, el->text_str ? Py_NewRef(el->text_str) : PyUnicode_Substring(text_obj, el->text_start, el->text_end));
            }
            Py_SETREF(desc, el->desc_str ? Py_NewRef(el->desc_str) : PyUnicode_Substring(text_obj, el->desc_start, el->desc_end));
            bad = bad || box == NULL || text == NULL || desc == NULL;
            if (bad) {
                Py_XDECREF(box);
                Py_XDECREF(text);
                Py_XDECREF(desc);
                goto done;
            }
        }
        PyList_SET_ITEM(boxes, i, box);
        PyList_SET_ITEM(texts, i, text);
        PyList_SET_ITEM(descs, i, desc);
    }
    result = Py_BuildValue("(OOOOOOOOOOnnniOO)", f.hld ? f.hld : Py_None, f.lighting ? f.lighting : Py_None,
                           f.medium ? f.medium : Py_None, f.has_photo ? Py_True : Py_False, kinds, boxes, texts, descs,
                           words, masks, f.empty_prose, f.palette_repeats, f.flat_boxes, repeats, suspects, overlapping);
done:
    Py_XDECREF(words);
    Py_XDECREF(masks);
    Py_XDECREF(suspects);
    Py_XDECREF(overlapping);
    Py_XDECREF(kinds);
    Py_XDECREF(boxes);
    Py_XDECREF(texts);
    Py_XDECREF(descs);
    Py_XDECREF(f.hld);
    Py_XDECREF(f.lighting);
    Py_XDECREF(f.medium);
    for (Py_ssize_t k = 0; k < f.el_count; k++) {
        Py_XDECREF(f.els[k].desc_str);
        Py_XDECREF(f.els[k].text_str);
        Py_XDECREF(f.els[k].kind_str);
    }
    PyMem_Free(f.els);
    PyMem_Free(f.text_boxes);
    return result;
}

static PyObject *canonical_of_clean(PyObject *module, PyObject *text)
{
    (void)module;
    if (!readable_str(text, "canonical_of_clean")) {
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    int kind = PyUnicode_KIND(text);
    void *out = PyMem_Malloc((size_t)kind * (size_t)(n + 1));
    if (out == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t k = -2;
    for (int wide = 0; k == -2 && wide < 2; wide++) {
        if (wide) { /* an escape decodes to a character wider than the text's: again, in UCS4 */
            PyMem_Free(out);
            kind = PyUnicode_4BYTE_KIND;
            if ((out = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(n + 1))) == NULL) {
                return PyErr_NoMemory();
            }
        }
        switch (PyUnicode_KIND(text)) {
        case PyUnicode_1BYTE_KIND:
            k = f_canonical_ucs1((const Py_UCS1 *)data, n, out, wide);
            break;
        case PyUnicode_2BYTE_KIND:
            k = f_canonical_ucs2((const Py_UCS2 *)data, n, out, wide);
            break;
        default:
            k = f_canonical_ucs4((const Py_UCS4 *)data, n, out, wide);
            break;
        }
    }
    PyObject *result = k < 0 ? Py_NewRef(Py_None) : PyUnicode_FromKindAndData(kind, out, k);
    PyMem_Free(out);
    return result;
}

static PyObject *configure_lints(PyObject *module, PyObject *args)
{
    (void)module;
    Py_ssize_t desc_min, desc_max;
    unsigned long long phrase, shell;
    if (!PyArg_ParseTuple(args, "nnKK:configure_lints", &desc_min, &desc_max, &phrase, &shell)) {
        return NULL;
    }
    ck_desc_min = desc_min;
    ck_desc_max = desc_max;
    ck_phrase_bits = phrase;
    ck_shell_bits = shell;
    ck_lints_configured = 1;
    Py_RETURN_NONE;
}

/* -- the official ensure-ASCII check's escapes ------------------------------------------------ */

#define ESC_KEEP 4 /* the smallest distinct escapes kept: the message shows three, and "..." past them */

/* Find what NON_ASCII_UNICODE_ESCAPE_RE.findall finds: a backslash, 'u' and four hex digits
 * (either case) naming a code point from U+0080. Such matches cannot overlap (each starts
 * with the backslash that no hex digit is), so a plain left-to-right scan finds them all.
 * Counts them, and keeps the ESC_KEEP smallest distinct ones (as sorted() orders str). */
#define ESCAPES_SCAN(CHAR)                                                                       \
    do {                                                                                         \
        const CHAR *s = (const CHAR *)data;                                                      \
        for (Py_ssize_t i = 0; i + 5 < n; i++) {                                                 \
            if (sizeof(CHAR) == 1) { /* jump to the next backslash */                            \
                const void *next = memchr(s + i, '\\', (size_t)(n - 5 - i));                     \
                if (next == NULL) {                                                              \
                    break;                                                                       \
                }                                                                                \
                i = (const CHAR *)next - s;                                                      \
            }                                                                                    \
            if (s[i] != '\\' || s[i + 1] != 'u') {                                               \
                continue;                                                                        \
            }                                                                                    \
            int v = 0, ok = 1;                                                                   \
            for (int k = 2; k < 6 && ok; k++) {                                                  \
                Py_UCS4 c = s[i + k];                                                            \
                if (c >= '0' && c <= '9') {                                                      \
                    v = v * 16 + (int)(c - '0');                                                 \
                }                                                                                \
                else if (c >= 'a' && c <= 'f') {                                                 \
                    v = v * 16 + (int)(c - 'a') + 10;                                            \
                }                                                                                \
                else if (c >= 'A' && c <= 'F') {                                                 \
                    v = v * 16 + (int)(c - 'A') + 10;                                            \
                }                                                                                \
                else {                                                                           \
                    ok = 0;                                                                      \
                }                                                                                \
            }                                                                                    \
            if (!ok || v < 0x80) {                                                               \
                continue;                                                                        \
            }                                                                                    \
            char seq[6] = {'\\', 'u', (char)s[i + 2], (char)s[i + 3], (char)s[i + 4], (char)s[i + 5]}; \
            count++;                                                                             \
            esc_keep(kept, &nkept, seq);                                                         \
            i += 5;                                                                              \
        }                                                                                        \
    } while (0)

static void esc_keep(char kept[ESC_KEEP][6], int *nkept, const char *seq)
{
    int at = 0;
    while (at < *nkept) {
        int cmp = memcmp(kept[at], seq, 6);
        if (cmp == 0) {
            return; /* already kept */
        }
        if (cmp > 0) {
            break;
        }
        at++;
    }
    if (at >= ESC_KEEP) {
        return;
    }
    int last = *nkept < ESC_KEEP ? *nkept : ESC_KEEP - 1;
    memmove(kept[at + 1], kept[at], (size_t)(last - at) * 6);
    memcpy(kept[at], seq, 6);
    if (*nkept < ESC_KEEP) {
        (*nkept)++;
    }
}

static PyObject *unicode_escapes(PyObject *module, PyObject *text)
{
    (void)module;
    if (!readable_str(text, "unicode_escapes")) {
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t count = 0;
    char kept[ESC_KEEP][6];
    int nkept = 0;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        ESCAPES_SCAN(Py_UCS1);
        break;
    case PyUnicode_2BYTE_KIND:
        ESCAPES_SCAN(Py_UCS2);
        break;
    default:
        ESCAPES_SCAN(Py_UCS4);
        break;
    }
    PyObject *examples = PyList_New(nkept);
    if (examples == NULL) {
        return NULL;
    }
    for (int k = 0; k < nkept; k++) {
        PyObject *item = PyUnicode_FromStringAndSize(kept[k], 6);
        if (item == NULL) {
            Py_DECREF(examples);
            return NULL;
        }
        PyList_SET_ITEM(examples, k, item);
    }
    return Py_BuildValue("(nN)", count, examples);
}

static PyObject *span_or_none(Py_ssize_t start, Py_ssize_t end)
{
    if (end < 0) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(nn)", start, end);
}

static PyObject *locate(PyObject *module, PyObject *text)
{
    (void)module;
    if (!readable_str(text, "locate")) {
        return NULL;
    }
    if (!ck_configured) {
        Py_RETURN_NONE;
    }
    struct located found = {NULL, NULL, 0, -1, 0, -1, 0, 0};
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    int rc;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        rc = locate_ucs1((const Py_UCS1 *)data, n, &found);
        break;
    case PyUnicode_2BYTE_KIND:
        rc = locate_ucs2((const Py_UCS2 *)data, n, &found);
        break;
    default:
        rc = locate_ucs4((const Py_UCS4 *)data, n, &found);
        break;
    }
    PyObject *result = NULL;
    if (rc < 0) {
        goto done; /* memory error, already set */
    }
    if (rc == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (found.unknown == NULL && found.elements == NULL && found.hld_end < 0 && found.style_end < 0) {
        result = Py_NewRef(found.other_form ? Py_False : Py_True);
        goto done;
    }
    PyObject *hld = span_or_none(found.hld_start, found.hld_end);
    PyObject *style = hld ? span_or_none(found.style_start, found.style_end) : NULL;
    if (style != NULL) {
        result = Py_BuildValue("(OOOOO)", found.unknown ? found.unknown : Py_None, hld, style,
                               found.elements ? found.elements : Py_None, found.duplicates ? Py_True : Py_False);
    }
    Py_XDECREF(hld);
    Py_XDECREF(style);
done:
    Py_XDECREF(found.unknown);
    Py_XDECREF(found.elements);
    return result;
}

static PyObject *configure(PyObject *module, PyObject *args)
{
    (void)module;
    int bbox_min, bbox_max, style_max, element_max;
    if (!PyArg_ParseTuple(args, "iiii:configure", &bbox_min, &bbox_max, &style_max, &element_max)) {
        return NULL;
    }
    /* the box scanner reads plain non-negative integers of at most four digits */
    if (bbox_min < 0 || bbox_max < bbox_min || bbox_max > 9999 || style_max < 0 || element_max < 0) {
        PyErr_SetString(PyExc_ValueError, "configure(): limits outside what the scanner can read");
        return NULL;
    }
    ck_bbox_min = bbox_min;
    ck_bbox_max = bbox_max;
    ck_style_palette_max = style_max;
    ck_element_palette_max = element_max;
    ck_configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(bbox_min, bbox_max, style_palette_max, element_palette_max, /)\n--\n\n"
     "Set the schema's limits (from captionkit._spec); locate() answers None until this is called."},
    {"configure_estimate", configure_estimate, METH_VARARGS,
     "configure_estimate(per_digit, per_word, per_long_letter, per_non_ascii_letter, per_glued_word,\n"
     "                   per_non_ascii_symbol, per_punct_run, long_word, punct_group, /)\n--\n\n"
     "Set the token estimate's weights (from captionkit.tokens); estimate() refuses to run until then.\n"
     "Returns whether the weights let estimate() weigh ASCII text by counts, many characters at once\n"
     "(the answers are the same either way)."},
    {"estimate", estimate, METH_VARARGS,
     "estimate(text, with_total=False, /)\n--\n\n"
     "(hundredths, total, pieces): the token estimate of text as captionkit.tokens computes it: the\n"
     "exact sum of the pieces' weights in hundredths, the float sum in text order (None unless\n"
     "with_total: adding floats one after another costs), the piece count."},
    {"configure_words", configure_words, METH_O,
     "configure_words(vocabulary, /)\n--\n\n"
     "Set the lints' trigger words (a tuple of at most 64 lowercase ASCII words; bit k is word k)."},
    {"prose_facts", prose_facts, METH_O,
     "prose_facts(strings, /)\n--\n\n"
     "(word_counts, masks): len(s.split()) of each string, and the bits of the trigger words among\n"
     "its lowercased ASCII letter-and-digit runs (every bit where a letter folds to ASCII)."},
    {"caption_facts", caption_facts, METH_O,
     "caption_facts(text, /)\n--\n\n"
     "What captionkit's own checks and the lints read, from a caption's canonical text, or None if the\n"
     "text is not a minified caption of the schema's shape: (high_level_description, lighting, medium,\n"
     "has_photo, kinds, boxes, texts, descs, words, masks, empty_prose, palette_repeats, flat_boxes,\n"
     "desc_repeats, suspects, overlapping). boxes, texts and descs hold the suspects' values (None for the\n"
     "other elements); desc_repeats: 1 when two descs are equal, -1 when not compared (over 512). words and masks:\n"
     "the high-level description's, the lighting's (0 when absent), then each desc's (as prose_facts).\n"
     "empty_prose: prose values with no word; palette_repeats: palettes holding an entry twice;\n"
     "flat_boxes: boxes with no width or height;\n"
     "suspects: the indices of the elements the lints must look at (see configure_lints); overlapping:\n"
     "{text element: the first earlier text element whose box overlaps its box}."},
    {"canonical_of_clean", canonical_of_clean, METH_O,
     "canonical_of_clean(text, /)\n--\n\n"
     "The canonical text of a clean caption in another layout (locate() answered False): white space\n"
     "dropped, strings written again as json.dumps writes them; None where it is not sure (root keys out\n"
     "of order, a surrogate, a number that is not a plain integer)."},
    {"configure_lints", configure_lints, METH_VARARGS,
     "configure_lints(desc_min, desc_max, phrase_bits, shell_bits, /)\n--\n\n"
     "Set the lints' thresholds caption_facts() uses to leave an element out of its suspects."},
    {"unicode_escapes", unicode_escapes, METH_O,
     "unicode_escapes(text, /)\n--\n\n"
     "(count, smallest): how many \\uXXXX escapes of non-ASCII code points the text holds (as the\n"
     "official ensure-ASCII check's regular expression finds them), and the four smallest distinct ones, sorted."},
    {"locate", locate, METH_O,
     "locate(text, /)\n--\n\n"
     "Where findings may be: True (nowhere, and the text is canonical), False (nowhere, another form),\n"
     "None (undecided), or\n"
     "(unknown_key_spans, hld_span, style_span, element_spans, maybe_repeated_keys) with spans as\n"
     "character offsets; the flag is False when no object of the text can repeat a key."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "C accelerator for the compat verifier.", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    for (Py_UCS4 c = 0; c < 256; c++) {
        tk_latin1[c] = (unsigned char)tk_class_of(c);
    }
    for (int c = 0; c < 256; c++) {
        pw_low256[c] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : 0);
        pw_space256[c] = (tk_latin1[c] & TK_SPACE) != 0;
        pw_fold[c] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        pw_bit_index[c] = (unsigned char)(c >= 'a' && c <= 'z' ? c - 'a' : 26);
    }
    f_obj = PyUnicode_InternFromString("obj");
    f_text = PyUnicode_InternFromString("text");
    if (f_obj == NULL || f_text == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
