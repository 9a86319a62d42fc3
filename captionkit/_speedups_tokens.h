/* The token estimate's pieces and weights, one function per string width: included by
 * _speedups.c with CHAR_T and SFX defined.
 *
 * It cuts the text exactly as captionkit.tokens._PIECES (a regular expression, findall)
 * does and weighs each piece exactly as captionkit.tokens._increments does; tests compare
 * the two on every code point and on generated text of every kind. The regular
 * expression, for reference, with the alternatives tried in this order at each position:
 *
 *   1 '(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])
 *   2 [^\r\n\w]?[^\W\d_]+
 *   3 \d
 *   4 \s?[^\s\w]+[\r\n]*
 *   5 \s*[\r\n]+
 *   6 \s+(?!\S)
 *   7 \s+
 *   8 _+
 *
 * Every character is covered by some alternative, so the pieces tile the text. Each piece
 * is weighed while it is cut (one pass): a piece of alternative 1 is an apostrophe and one
 * or two ASCII letters; 3 is one decimal digit; 4 to 8 hold no letter and no digit; only a
 * word (2) needs its characters counted.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

static inline unsigned FN(tk_class)(const CHAR_T *s, Py_ssize_t i)
{
    Py_UCS4 c = s[i];
    if (c < 256) {
        return tk_latin1[c];
    }
    return tk_class_of(c);
}

#define CLS(i) FN(tk_class)(s, (i))
#define ADD(entry) (exact += (entry).hundredths, with_total ? (void)(total += (entry).value) : (void)0)

/* A piece without letters or digits: its length, and how many of its characters are not ASCII. */
#define ADD_PLAIN(len, non_ascii)                                            \
    do {                                                                     \
        Py_ssize_t rest_ = (len) - (non_ascii);                              \
        if ((non_ascii) == 0 && rest_ < TK_TABLE) {                          \
            ADD(tk_punct[rest_]);                                            \
        }                                                                    \
        else {                                                               \
            tk_add(tk_punct_value((non_ascii), rest_), &total, &exact);      \
        }                                                                    \
    } while (0)

static void FN(tk_estimate)(const CHAR_T *s, Py_ssize_t n, int with_total, double *total_out, long long *exact_out,
                            Py_ssize_t *pieces_out)
{
    double total = 0.0;
    long long exact = 0;
    Py_ssize_t pieces = 0;
    Py_ssize_t i = 0;
    while (i < n) {
        Py_UCS4 c = s[i];
        unsigned k = CLS(i);
        Py_ssize_t j;
        pieces++;
        /* 1: an English contraction: an apostrophe and one or two ASCII letters, glued */
        if (c == '\'' && i + 1 < n) {
            Py_UCS4 d = s[i + 1];
            Py_ssize_t letters = 0;
            if (d == 's' || d == 'S' || d == 't' || d == 'T' || d == 'm' || d == 'M' || d == 'd' || d == 'D') {
                letters = 1;
            }
            else if (i + 2 < n) {
                Py_UCS4 e = s[i + 2];
                if (((d == 'r' || d == 'R' || d == 'v' || d == 'V') && (e == 'e' || e == 'E'))
                    || ((d == 'l' || d == 'L') && (e == 'l' || e == 'L'))) {
                    letters = 2;
                }
            }
            if (letters) {
                ADD(tk_word[letters]);
                ADD(tk_glued);
                i += 1 + letters;
                continue;
            }
        }
        /* 2: a word, with at most one leading character that is neither a word character nor a
         * line break. Its letter class holds letters, and numerals that are not decimal digits. */
        Py_ssize_t start = i; /* where the letter run starts */
        int prefix = 0;
        if (k & TK_LETTER) {
            prefix = 0;
        }
        else if ((k & TK_PREFIX) && i + 1 < n && (CLS(i + 1) & TK_LETTER)) {
            prefix = 1;
            start = i + 1;
        }
        else {
            start = -1;
        }
        if (start >= 0) {
            Py_ssize_t ascii_letters = 0, letters = 0, non_ascii = 0;
            int all_digits = !prefix;
            for (j = start; j < n; j++) {
                Py_UCS4 ch = s[j];
                if (ch < 128) {
                    if (!(tk_latin1[ch] & TK_LETTER)) {
                        break;
                    }
                    ascii_letters++; /* an ASCII character of the letter class is a letter */
                    all_digits = 0;
                    continue;
                }
                unsigned kj = CLS(j);
                if (!(kj & TK_LETTER)) {
                    break;
                }
                non_ascii++;
                if (kj & TK_ALPHA) {
                    letters++;
                }
                if (!(kj & TK_DIGIT)) {
                    all_digits = 0;
                }
            }
            letters += ascii_letters;
            Py_ssize_t len = j - i;
            if (prefix && c >= 128) {
                non_ascii++;
            }
            if (all_digits) {
                ADD(tk_digit);
            }
            else if (!letters) {
                ADD_PLAIN(len, non_ascii);
            }
            else {
                if (ascii_letters) {
                    if (ascii_letters < TK_TABLE) {
                        ADD(tk_word[ascii_letters]);
                    }
                    else {
                        tk_add(tk_word_value(ascii_letters), &total, &exact);
                    }
                }
                if (letters > ascii_letters) {
                    Py_ssize_t more = letters - ascii_letters;
                    if (more < TK_TABLE) {
                        ADD(tk_non_ascii[more]);
                    }
                    else {
                        tk_add(tk_weights.per_non_ascii_letter * (double)more, &total, &exact);
                    }
                }
                if (len - (prefix && c == ' ') > letters) { /* len(piece.lstrip(" ")) > letters */
                    ADD(tk_glued);
                }
            }
            i = j;
            continue;
        }
        /* 3: one decimal digit */
        if (k & TK_DECIMAL) {
            ADD(tk_digit);
            i++;
            continue;
        }
        /* 4: a punctuation run, after at most one space, then line breaks */
        j = -1;
        if (k & TK_PUNCT) {
            j = i + 1;
        }
        else if ((k & TK_SPACE) && i + 1 < n && (CLS(i + 1) & TK_PUNCT)) {
            j = i + 2;
        }
        if (j >= 0) {
            Py_ssize_t non_ascii = (c >= 128) + (j - i == 2 && s[i + 1] >= 128);
            while (j < n) {
                Py_UCS4 ch = s[j];
                if (ch < 128) {
                    if (!(tk_latin1[ch] & TK_PUNCT)) {
                        break;
                    }
                }
                else if (CLS(j) & TK_PUNCT) {
                    non_ascii++;
                }
                else {
                    break;
                }
                j++;
            }
            while (j < n && (s[j] == '\r' || s[j] == '\n')) {
                j++;
            }
            ADD_PLAIN(j - i, non_ascii);
            i = j;
            continue;
        }
        if (k & TK_SPACE) {
            /* the whole run of white space, then 5, 6 and 7 as the regex backtracks within it */
            Py_ssize_t end = i + 1;
            while (end < n && (CLS(end) & TK_SPACE)) {
                end++;
            }
            j = -1;
            for (Py_ssize_t last = end - 1; last >= i; last--) {
                if (s[last] == '\r' || s[last] == '\n') {
                    j = last + 1; /* 5: up to the last line break of the run */
                    break;
                }
            }
            if (j < 0) {
                /* 6: a run at the end of the text, or all but its last space before text; 7: one space */
                j = end == n ? n : end - i >= 2 ? end - 1 : end;
            }
            Py_ssize_t non_ascii = 0;
            for (Py_ssize_t m = i; m < j; m++) {
                non_ascii += s[m] >= 128;
            }
            ADD_PLAIN(j - i, non_ascii);
            i = j;
            continue;
        }
        /* 8: underscores (the only characters left) */
        j = i + 1;
        while (j < n && s[j] == '_') {
            j++;
        }
        ADD_PLAIN(j - i, 0);
        i = j;
    }
    *total_out = total;
    *exact_out = exact;
    *pieces_out = pieces;
}

#undef ADD_PLAIN
#undef ADD
#undef CLS
#undef FN
#undef CAT
#undef CAT_
