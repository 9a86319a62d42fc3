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
 * Every character is covered by some alternative, so the pieces tile the text. The piece
 * loop (tk_estimate) cuts one piece at a time and weighs it while it is cut: a piece of
 * alternative 1 is an apostrophe and one or two ASCII letters; 3 is one decimal digit; 4 to
 * 8 hold no letter and no digit; only a word (2) needs its characters counted.
 *
 * Most of a caption is ASCII letters, digits, spaces and punctuation, and there a window
 * does the loop's work 64 characters at a time (tk_window): from bit masks of the
 * characters' classes it finds where each piece starts, and adds the pieces up by counts.
 * It reads letters, digits, '_', ' ', '\n', '\r', and the other ASCII characters that are
 * neither white space nor word characters (marks, [^\s\w]; the apostrophe among them).
 * Anything else (not ASCII, or a control character, among them the other white space) ends
 * it, and the loop goes on from the window's last sure piece start. What the regular
 * expression does on that alphabet:
 *
 * - every digit is a piece, and so is every run of '_';
 * - every run of letters is one word, with at most one character before it: a space, or a
 *   lone mark that starts a piece (after no mark, and after no white space that leads it),
 *   which makes it a glued word. An apostrophe that starts a piece and a contraction ('s,
 *   're...) weighs as such a glued word, unless more letters follow the contraction: then
 *   the regular expression cuts the word in two, and the window ends at the apostrophe;
 * - a run of marks is one piece (4), with the line breaks right after it, and with the white
 *   space character before it where that one starts a piece: a space always does (5 and 6
 *   leave the last space of a run to what follows), a line break where the character before
 *   it is neither white space nor a mark;
 * - the rest of a run of white space: from its start to its last line break one piece (5),
 *   then its spaces one piece (6), but for its last space when that one leads a word or
 *   marks, or stands alone before a digit or '_' (7).
 *
 * A window starts where a piece starts, so what came before does not matter. It ends at its
 * last piece start that what follows cannot move (any but one in white space of its own,
 * whose run may go on), or where the text ends.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

static inline unsigned FN(tk_class)(const CHAR_T *s, Py_ssize_t i)
{
    Py_UCS4 c = s[i];
    if (sizeof(CHAR_T) == 1) {
        return tk_latin1[c];
    }
    if (sizeof(CHAR_T) == 2 || c < 0x10000) {
        return tk_bmp[c];
    }
    return tk_class_of(c);
}

/* The window's classes of up to 64 characters from s (avail left in the text), bit j of each mask
 * for character j. Stops at the first character the window leaves to the piece loop, or after 64;
 * returns how many it read, and *cut_short says whether such a character stopped it. */
static int FN(tk_masks)(const CHAR_T *s, Py_ssize_t avail, struct tk_classes *out, int *cut_short)
{
    int lim = avail < 64 ? (int)avail : 64;
    tk_mask l = 0, d = 0, sp = 0, nl = 0, u = 0, q = 0;
    int j = 0;
    *cut_short = 0;
#if TK_SSE2
    for (; j + 16 <= lim; j += 16) {
        /* the characters as bytes: each ASCII one as itself, any other as a byte below 0x20 or of
         * 0x80 and more (saturated, or the byte of a Latin-1 character), which ends the window as a
         * control character does */
        __m128i b;
        if (sizeof(CHAR_T) == 1) {
            b = _mm_loadu_si128((const __m128i *)(s + j));
        }
        else if (sizeof(CHAR_T) == 2) {
            b = _mm_packus_epi16(_mm_loadu_si128((const __m128i *)(s + j)),
                                 _mm_loadu_si128((const __m128i *)(s + j + 8)));
        }
        else {
            __m128i low = _mm_packs_epi32(_mm_loadu_si128((const __m128i *)(s + j)),
                                          _mm_loadu_si128((const __m128i *)(s + j + 4)));
            __m128i high = _mm_packs_epi32(_mm_loadu_si128((const __m128i *)(s + j + 8)),
                                           _mm_loadu_si128((const __m128i *)(s + j + 12)));
            b = _mm_packus_epi16(low, high);
        }
        __m128i lower = _mm_or_si128(b, _mm_set1_epi8(0x20));
        /* a range check as one signed comparison: shifted to start at -128 */
        __m128i is_l = _mm_cmplt_epi8(_mm_add_epi8(lower, _mm_set1_epi8((char)(128 - 'a'))),
                                      _mm_set1_epi8(-128 + 26));
        __m128i is_d = _mm_cmplt_epi8(_mm_add_epi8(b, _mm_set1_epi8((char)(128 - '0'))), _mm_set1_epi8(-128 + 10));
        __m128i is_nl = _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('\n')), _mm_cmpeq_epi8(b, _mm_set1_epi8('\r')));
        /* below 0x20 as a signed byte: a control character, or anything that is not ASCII */
        __m128i is_low = _mm_cmplt_epi8(b, _mm_set1_epi8(0x20));
        unsigned stops = (unsigned)_mm_movemask_epi8(_mm_andnot_si128(is_nl, is_low));
        l |= (tk_mask)(unsigned)_mm_movemask_epi8(is_l) << j;
        d |= (tk_mask)(unsigned)_mm_movemask_epi8(is_d) << j;
        nl |= (tk_mask)(unsigned)_mm_movemask_epi8(is_nl) << j;
        sp |= (tk_mask)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8(' '))) << j;
        u |= (tk_mask)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('_'))) << j;
        q |= (tk_mask)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('\''))) << j;
        if (stops) {
            j += tk_ctz64(stops);
            *cut_short = 1;
            break;
        }
    }
#endif
    if (!*cut_short) {
        /* eight characters at a time: their class bytes side by side, then each class's bits */
        for (; j < lim; j += 8) {
            int count = lim - j < 8 ? lim - j : 8;
            tk_mask bytes = 0;
            for (int t = 0; t < count; t++) {
                Py_UCS4 c = s[j + t];
                bytes |= (tk_mask)tk_window_class[c < 128 ? c : 128] << (8 * t);
            }
            unsigned stops = tk_gather8(bytes, TKW_STOP_BIT);
            l |= (tk_mask)tk_gather8(bytes, TKW_LETTER_BIT) << j;
            d |= (tk_mask)tk_gather8(bytes, TKW_DIGIT_BIT) << j;
            sp |= (tk_mask)tk_gather8(bytes, TKW_SPACE_BIT) << j;
            nl |= (tk_mask)tk_gather8(bytes, TKW_BREAK_BIT) << j;
            u |= (tk_mask)tk_gather8(bytes, TKW_UNDERSCORE_BIT) << j;
            q |= (tk_mask)tk_gather8(bytes, TKW_QUOTE_BIT) << j;
            if (stops) {
                j += tk_ctz64(stops);
                *cut_short = 1;
                break;
            }
            if (count < 8) {
                j += count;
                break;
            }
        }
    }
    /* nothing of what was read past the end or from the first stop on */
    tk_mask below = j < 64 ? ((tk_mask)1 << j) - 1 : ~(tk_mask)0;
    out->letters = l & below;
    out->digits = d & below;
    out->spaces = sp & below;
    out->breaks = nl & below;
    out->underscores = u & below;
    out->quotes = q & below;
    return j;
}

/* Whether the apostrophe at s[p], if it starts a piece, starts a contraction ('s, 're...) that is
 * followed by more ASCII letters: the regular expression cuts the contraction off the word there,
 * which the window does not do (a contraction followed by anything else weighs as the glued word
 * the window takes it for). */
static int FN(tk_splits_word)(const CHAR_T *s, Py_ssize_t p, Py_ssize_t avail)
{
    Py_ssize_t letters = 0;
    Py_UCS4 c = p + 1 < avail ? s[p + 1] | 0x20 : 0;
    Py_UCS4 e = p + 2 < avail ? s[p + 2] | 0x20 : 0;
    if (c == 's' || c == 't' || c == 'm' || c == 'd') {
        letters = 1;
    }
    else if (((c == 'r' || c == 'v') && e == 'e') || (c == 'l' && e == 'l')) {
        letters = 2;
    }
    if (!letters || p + 1 + letters >= avail) {
        return 0;
    }
    Py_UCS4 after = s[p + 1 + letters];
    return after < 128 && (tk_window_class[after] & (1u << TKW_LETTER_BIT));
}

/* Cut and weigh at once the pieces of up to 64 characters from s, where a piece starts (see the
 * comment at the top). Puts the hundredths and the number of the pieces before the last piece
 * start it is sure of (the cut) in sums (with_total, it adds their increments to sums->total in
 * order as well) and returns the cut, or 0 when it is sure of none (the loop then cuts one
 * piece). *stop: the first character from which the window may be tried again. Shifting a mask
 * left by one moves each bit onto the character after it ("before": the character before has
 * it); right by one, onto the character before. */
static Py_ssize_t FN(tk_window)(const CHAR_T *s, Py_ssize_t avail, int with_total, struct tk_sums *sums,
                                Py_ssize_t *stop)
{
    struct tk_classes k;
    int cut_short;
    int v = FN(tk_masks)(s, avail, &k, &cut_short);
    tk_mask l = k.letters, d = k.digits, sp = k.spaces, nl = k.breaks, u = k.underscores;
    tk_mask known = v >= 64 ? ~(tk_mask)0 : (((tk_mask)1 << v) - 1);
    tk_mask ws = sp | nl;
    tk_mask mark = known & ~(l | d | ws | u);
    tk_mask mark_before = mark << 1;
    /* an apostrophe before letters, not after a mark or a space: it may start a contraction that
     * splits a word; the window ends there if it does (rare) */
    for (tk_mask maybe = k.quotes & (l >> 1) & ~((mark | sp) << 1); maybe; maybe &= maybe - 1) {
        int p = tk_ctz64(maybe);
        if (FN(tk_splits_word)(s, p, avail)) {
            v = p;
            cut_short = 1;
            known = ((tk_mask)1 << p) - 1;
            l &= known;
            d &= known;
            sp &= known;
            nl &= known;
            u &= known;
            ws &= known;
            mark &= known;
            mark_before = mark << 1;
            break;
        }
    }
    /* line breaks right after marks end the marks' piece: a carry from the first runs through the rest */
    tk_mask after_marks = nl & mark_before;
    tk_mask trailing = ((nl + after_marks) ^ nl) & nl;
    /* a white space character that leads marks: a space, or a line break that starts a piece */
    tk_mask leads_marks = (sp | (nl & ~trailing & ~(ws << 1))) & (mark >> 1);
    tk_mask glued = mark & ~mark_before & ~(leads_marks << 1) & (l >> 1); /* a lone mark before letters */
    tk_mask sp_word = sp & (l >> 1);                                      /* a space before letters */
    tk_mask leads = glued | sp_word; /* a word's first character that is not a letter */
    tk_mask word_letters = l & ~(l << 1);
    tk_mask mark_starts = leads_marks | (mark & ~mark_before & ~(leads_marks << 1) & ~glued);
    /* white space that is a piece of its own: where a run starts (past the line breaks that end
     * marks), where its spaces after its last line break start, and its last space alone before a
     * digit or '_' */
    tk_mask ws_own = ws & ~trailing & ~leads_marks & ~sp_word;
    tk_mask ws_rest = ws & ~trailing;
    tk_mask ws_starts = (ws_rest & ~(ws_rest << 1)) | (sp & (sp << 1) & ((d | u) >> 1));
    if (nl) {
        /* white space with a line break at or after it in its run (a carry per doubling) */
        tk_mask more = nl, run = ws;
        for (int shift = 1; shift < 64; shift *= 2) {
            more |= (more >> shift) & run;
            run &= run >> shift;
        }
        ws_starts |= sp & (nl << 1) & ~more;
    }
    tk_mask plain_starts = mark_starts | (ws_starts & ws_own) | (u & ~(u << 1));
    tk_mask starts = plain_starts | d | leads | (word_letters & ~(leads << 1));
    tk_mask keep;
    Py_ssize_t cut;
    if (v == avail) { /* the text ends here: every piece is whole */
        cut = v;
        keep = known;
        *stop = cut;
    }
    else {
        /* sure: any start past the first but in white space of its own (whether that starts a
         * piece depends on how its run goes on). Whether any other character starts a piece
         * depends on the characters before it, and on the one after it only where that one
         * makes it a lead, so it is known. */
        tk_mask sure = starts & ~ws_own & known & ~(tk_mask)1;
        if (!sure) {
            *stop = cut_short ? v + 1 : 1;
            return 0;
        }
        cut = 63 - tk_clz64(sure);
        keep = ((tk_mask)1 << cut) - 1;
        *stop = cut_short ? v + 1 : cut;
    }
    if (with_total) {
        /* the float sum: each piece's increments in text order, as the piece loop adds them */
        double sum = sums->total;
        for (tk_mask at = starts & keep; at;) {
            int a = tk_ctz64(at);
            at &= at - 1;
            int end = at ? tk_ctz64(at) : (int)cut;
            /* a digit (row 0), a plain piece (1) or a word (2) of so many letters */
            int row = 2 - 2 * (int)((d >> a) & 1) - (int)((plain_starts >> a) & 1);
            sum += tk_fast_value[row][end - a - (int)((leads >> a) & 1)];
            if ((glued >> a) & 1) {
                sum += tk_glued.value;
            }
        }
        sums->total = sum;
    }
    /* letters past the long_word-th of a word: with long_word letters of the same run before them */
    tk_mask long_letters = l;
    for (int t = 1; t <= tk_fast.long_word; t++) {
        long_letters &= l << t;
    }
    /* a plain piece (marks, white space, '_') weighs one run per started group of characters:
     * count its first character and every group-th one after it while the piece goes on */
    tk_mask firsts = plain_starts & keep;
    tk_mask rest = ((mark & ~glued) | (ws & ~sp_word) | u) & keep & ~firsts;
    tk_mask group_on = rest; /* the group characters up to here all go on with the same piece */
    for (int t = 1; t < tk_fast.group; t++) {
        group_on &= rest << t;
    }
    long long n_firsts = tk_popcount64(firsts), runs = n_firsts;
    for (tk_mask at = firsts; (at = (at << tk_fast.group) & group_on) != 0;) {
        runs += tk_popcount64(at);
    }
    long long n_digits = tk_popcount64(d & keep), n_words = tk_popcount64(word_letters & keep);
    long long n_long = tk_popcount64(long_letters & keep), n_glued = tk_popcount64(glued & keep);
    sums->exact = n_digits * tk_fast.digit + n_words * tk_fast.word + n_long * tk_fast.long_letter
                  + n_glued * tk_fast.glued + runs * tk_fast.run;
    sums->pieces = (Py_ssize_t)(n_digits + n_words + n_firsts);
    return cut;
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
    /* where the window may next be tried; after windows that cut little (text that is mostly not
     * ASCII, or full of stops), the loop goes on alone for longer and longer */
    Py_ssize_t retry = tk_fast.on ? 0 : n;
    int short_windows = 0;
    while (i < n) {
        if (i >= retry) {
            Py_ssize_t stop;
            struct tk_sums sums = {total, 0, 0}; /* the loop's own sums stay in registers */
            Py_ssize_t cut = FN(tk_window)(s + i, n - i, with_total, &sums, &stop);
            total = sums.total;
            exact += sums.exact;
            pieces += sums.pieces;
            if (cut >= TK_WINDOW_GOOD || i + cut == n) {
                short_windows = 0;
                retry = i + stop;
            }
            else {
                short_windows += short_windows < TK_WINDOW_BACKOFF;
                retry = i + stop + ((Py_ssize_t)TK_WINDOW_PAUSE << short_windows);
            }
            if (cut) {
                i += cut;
                continue;
            }
        }
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
