/* Optional C accelerator for captionkit's compat verifier.
 *
 * locate(text) reads the str's own buffer (nothing is decoded, converted or
 * allocated) and answers where the official checks may find something:
 *
 * - True: nowhere. The text is minified JSON whose root holds only the known
 *   keys, each value in its canonical form (keys in canonical order, values of
 *   the right type and range, palettes of uppercase hex, box edges in order,
 *   strings json.loads reads the same way).
 * - A tuple of character spans: unknown root key names, and the high-level
 *   description, style and elements whose canonical form did not match. Each
 *   span was checked as JSON json.loads reads; Python parses only those spans
 *   and words the messages with the official walk.
 * - None: undecided (another layout, a composition out of shape, numbers or
 *   nesting json.loads may refuse); the Python routes decide.
 *
 * Built by hatch_build.py when a C compiler is available; captionkit works
 * the same without it.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

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
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "locate() expects a str");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000 /* strings are always ready from 3.12 on */
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    if (!ck_configured) {
        Py_RETURN_NONE;
    }
    struct located found = {NULL, NULL, 0, -1, 0, -1};
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
        result = Py_NewRef(Py_True);
        goto done;
    }
    PyObject *hld = span_or_none(found.hld_start, found.hld_end);
    PyObject *style = hld ? span_or_none(found.style_start, found.style_end) : NULL;
    if (style != NULL) {
        result = Py_BuildValue("(OOOO)", found.unknown ? found.unknown : Py_None, hld, style,
                               found.elements ? found.elements : Py_None);
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
    {"locate", locate, METH_O,
     "locate(text, /)\n--\n\n"
     "Where findings may be: True (nowhere), None (undecided), or\n"
     "(unknown_key_spans, hld_span, style_span, element_spans) with spans as character offsets."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "C accelerator for the compat verifier.", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
