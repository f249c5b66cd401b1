/*
 * The native twin of schemas/writer.py: writes one Python value of a compiled schema as an
 * Avro datum, the bytes fastavro's schemaless_writer writes for it.
 *
 * schemas/native_writer.py turns a parsed schema into a flat program (a list of nodes, each
 * naming its children by index, so a record type that contains itself is a cycle) and hands it
 * to Writer(). Writer(datum, out) appends the datum's bytes to the bytearray `out`. It takes
 * exactly the plain values the Python writer takes (dict, list, str, int, float, True/False,
 * None, each of its exact type) and raises the `unfit` exception the program was built with
 * wherever the Python writer raises one of its fallback errors; the caller then asks fastavro,
 * which writes the same bytes or says what is wrong. Unlike the Python writer, it leaves `out`
 * untouched when it raises: the datum is built in the writer's own buffer and appended whole.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The node kinds: native_reader.py's Op (the writer has no logical node: a timestamp is its
 * base type, as in writer.py). */
enum {
    OP_NULL = 0,
    OP_BOOLEAN = 1,
    OP_INT = 2,
    OP_LONG = 3,
    OP_FLOAT = 4,
    OP_DOUBLE = 5,
    OP_STRING = 6,
    OP_ENUM = 7,
    OP_ARRAY = 8,
    OP_MAP = 9,
    OP_UNION = 10,
    OP_RECORD = 11,
    OP_COUNT = 12
};

/* The Python types a union picks its branch by (native_writer.py's KINDS, in this order). */
enum { K_NONE = 0, K_BOOL, K_STR, K_INT, K_FLOAT, K_DICT, K_LIST, K_COUNT };

/* Deeper nesting than this (only a record type that contains itself gets there) is unfit. */
#define MAX_DEPTH 200
/* A buffer grown beyond this by one large datum is freed after it rather than kept. */
#define KEEP_BUFFER (64 * 1024)

typedef struct Node {
    int op;
    Py_ssize_t n;            /* record fields, union branches */
    struct Node **children;  /* record fields, union branches; [0]: array item, map value */
    PyObject **names;        /* record field names (strong references) */
    char *optional;          /* record: a missing field is written as None */
    PyObject *symbols;       /* enum: dict symbol -> index */
    signed char branch[K_COUNT]; /* union: the branch of each Python type, -1: none */
} Node;

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    PyObject *unfit;
} Buffer;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Node *nodes;
    Py_ssize_t count;
    PyObject *unfit;
    Buffer buffer;
} WriterObject;

static int write_node(Buffer *b, const Node *node, PyObject *v, int depth);

static int unfit(Buffer *b) {
    PyErr_SetNone(b->unfit);
    return -1;
}

static int reserve(Buffer *b, Py_ssize_t more) {
    if (b->len + more <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int put(Buffer *b, const void *p, Py_ssize_t n) {
    if (reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, p, (size_t)n);
    b->len += n;
    return 0;
}

static int put_byte(Buffer *b, unsigned char byte) {
    if (reserve(b, 1) < 0) return -1;
    b->data[b->len++] = (char)byte;
    return 0;
}

/* A zig-zag varint (at most 10 bytes). */
static int put_long(Buffer *b, int64_t v) {
    if (reserve(b, 10) < 0) return -1;
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned char *p = (unsigned char *)b->data + b->len;
    while (z > 0x7F) {
        *p++ = (unsigned char)((z & 0x7F) | 0x80);
        z >>= 7;
    }
    *p++ = (unsigned char)z;
    b->len = (char *)p - b->data;
    return 0;
}

/* The Python type a union picks by, as the Python writer tests it (exact types: a bool is no
 * int, a str subclass no str); -1 for any other. */
static int kind_of(PyObject *v) {
    if (v == Py_None) return K_NONE;
    if (v == Py_True || v == Py_False) return K_BOOL;
    if (PyUnicode_CheckExact(v)) return K_STR;
    if (PyLong_CheckExact(v)) return K_INT;
    if (PyFloat_CheckExact(v)) return K_FLOAT;
    if (PyDict_CheckExact(v)) return K_DICT;
    if (PyList_CheckExact(v)) return K_LIST;
    return -1;
}

static int write_string(Buffer *b, PyObject *v) {
    if (!PyUnicode_CheckExact(v)) return unfit(b);
    if (PyUnicode_IS_ASCII(v)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(v);
        if (put_long(b, n) < 0) return -1;
        return put(b, PyUnicode_DATA(v), n);
    }
    /* Not PyUnicode_AsUTF8AndSize: it would keep a UTF-8 copy inside every string written. */
    PyObject *utf8 = PyUnicode_AsUTF8String(v);
    if (utf8 == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear(); /* a lone surrogate: fastavro decides */
            return unfit(b);
        }
        return -1;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(utf8);
    int rc = put_long(b, n) < 0 ? -1 : put(b, PyBytes_AS_STRING(utf8), n);
    Py_DECREF(utf8);
    return rc;
}

static int write_integer(Buffer *b, const Node *node, PyObject *v) {
    if (!PyLong_CheckExact(v)) return unfit(b);
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) return unfit(b);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (node->op == OP_INT && (x < INT32_MIN || x > INT32_MAX)) return unfit(b);
    return put_long(b, (int64_t)x);
}

/* A float, or an int written as a float (as fastavro does); unfit where Python's float() or
 * struct.pack would overflow. */
static int write_real(Buffer *b, const Node *node, PyObject *v) {
    double d;
    if (PyFloat_CheckExact(v)) {
        d = PyFloat_AS_DOUBLE(v);
    } else if (PyLong_CheckExact(v)) {
        d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
            PyErr_Clear();
            return unfit(b);
        }
    } else {
        return unfit(b);
    }
    int size = node->op == OP_DOUBLE ? 8 : 4;
    if (reserve(b, size) < 0) return -1;
    int rc = size == 8 ? PyFloat_Pack8(d, b->data + b->len, 1) : PyFloat_Pack4(d, b->data + b->len, 1);
    if (rc < 0) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
        PyErr_Clear();
        return unfit(b);
    }
    b->len += size;
    return 0;
}

static int write_array(Buffer *b, const Node *node, PyObject *v, int depth) {
    if (!PyList_CheckExact(v)) return unfit(b);
    Py_ssize_t n = PyList_GET_SIZE(v);
    if (n) {
        if (put_long(b, n) < 0) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            /* No Python code runs while a datum is written, so the list cannot change. */
            if (write_node(b, node->children[0], PyList_GET_ITEM(v, i), depth + 1) < 0)
                return -1;
        }
    }
    return put_byte(b, 0);
}

static int write_map(Buffer *b, const Node *node, PyObject *v, int depth) {
    if (!PyDict_CheckExact(v)) return unfit(b);
    Py_ssize_t n = PyDict_GET_SIZE(v);
    if (n) {
        if (put_long(b, n) < 0) return -1;
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(v, &pos, &key, &value)) {
            if (write_string(b, key) < 0) return -1;
            if (write_node(b, node->children[0], value, depth + 1) < 0) return -1;
        }
    }
    return put_byte(b, 0);
}

static int write_record(Buffer *b, const Node *node, PyObject *v, int depth) {
    if (!PyDict_CheckExact(v)) return unfit(b);
    for (Py_ssize_t i = 0; i < node->n; i++) {
        PyObject *value = PyDict_GetItemWithError(v, node->names[i]);
        if (value == NULL) {
            if (PyErr_Occurred()) return -1;
            if (!node->optional[i]) return unfit(b); /* a missing field: fastavro decides */
            value = Py_None;
        }
        if (write_node(b, node->children[i], value, depth + 1) < 0) return -1;
    }
    return 0;
}

static int write_node(Buffer *b, const Node *node, PyObject *v, int depth) {
    if (depth > MAX_DEPTH) return unfit(b);
    switch (node->op) {
    case OP_NULL:
        return v == Py_None ? 0 : unfit(b);
    case OP_BOOLEAN:
        if (v == Py_True) return put_byte(b, 1);
        if (v == Py_False) return put_byte(b, 0);
        return unfit(b);
    case OP_INT:
    case OP_LONG:
        return write_integer(b, node, v);
    case OP_FLOAT:
    case OP_DOUBLE:
        return write_real(b, node, v);
    case OP_STRING:
        return write_string(b, v);
    case OP_ENUM: {
        if (!PyUnicode_CheckExact(v)) return unfit(b);
        PyObject *index = PyDict_GetItemWithError(node->symbols, v);
        if (index == NULL) return PyErr_Occurred() ? -1 : unfit(b);
        return put_long(b, PyLong_AsLongLong(index));
    }
    case OP_ARRAY:
        return write_array(b, node, v, depth);
    case OP_MAP:
        return write_map(b, node, v, depth);
    case OP_UNION: {
        int kind = kind_of(v);
        int branch = kind < 0 ? -1 : node->branch[kind];
        if (branch < 0) return unfit(b);
        if (put_long(b, branch) < 0) return -1;
        return write_node(b, node->children[branch], v, depth + 1);
    }
    case OP_RECORD:
        return write_record(b, node, v, depth);
    default:
        PyErr_Format(PyExc_SystemError, "avro writer: bad node op %d", node->op);
        return -1;
    }
}

/* ------------------------------------------------------------------ the Writer type */

static void free_nodes(WriterObject *self) {
    if (self->nodes == NULL) return;
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Node *node = &self->nodes[i];
        if (node->names != NULL) {
            for (Py_ssize_t k = 0; k < node->n; k++) Py_XDECREF(node->names[k]);
            PyMem_Free(node->names);
        }
        PyMem_Free(node->children);
        PyMem_Free(node->optional);
        Py_XDECREF(node->symbols);
    }
    PyMem_Free(self->nodes);
    self->nodes = NULL;
}

static int bad_program(Py_ssize_t index, const char *what) {
    PyErr_Format(PyExc_ValueError, "avro writer program: node %zd: %s", index, what);
    return -1;
}

/* children: a tuple of node indices. */
static int take_children(WriterObject *self, Py_ssize_t index, PyObject *indices, Node *node) {
    if (!PyTuple_Check(indices)) return bad_program(index, "children must be a tuple");
    Py_ssize_t n = PyTuple_GET_SIZE(indices);
    node->children = PyMem_Calloc(n ? n : 1, sizeof(Node *));
    if (node->children == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t child = PyLong_AsSsize_t(PyTuple_GET_ITEM(indices, k));
        if (child == -1 && PyErr_Occurred()) return -1;
        if (child < 0 || child >= self->count) return bad_program(index, "child out of range");
        node->children[k] = &self->nodes[child];
    }
    node->n = n;
    return 0;
}

/* A record: (names: tuple of str, children, optional: tuple of bool), one of each per field. */
static int take_record(WriterObject *self, Py_ssize_t index, PyObject *a, PyObject *b,
                       PyObject *c, Node *node) {
    if (!PyTuple_Check(a) || !PyTuple_Check(c)) return bad_program(index, "a record needs tuples");
    Py_ssize_t n = PyTuple_GET_SIZE(a);
    if (!PyTuple_Check(b) || PyTuple_GET_SIZE(b) != n || PyTuple_GET_SIZE(c) != n)
        return bad_program(index, "a record needs one child and one flag per field");
    if (take_children(self, index, b, node) < 0) return -1;
    node->names = PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
    node->optional = PyMem_Calloc(n ? n : 1, 1);
    if (node->names == NULL || node->optional == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *name = PyTuple_GET_ITEM(a, k);
        if (!PyUnicode_CheckExact(name)) return bad_program(index, "field names must be str");
        /* Interned, as the keys of dicts built from literals are: a lookup then matches by
         * identity, not by comparing the text. */
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);
        node->names[k] = name;
        int flag = PyObject_IsTrue(PyTuple_GET_ITEM(c, k));
        if (flag < 0) return -1;
        node->optional[k] = (char)flag;
    }
    return 0;
}

/* An enum: a dict of its symbols (str) to their indices (int). */
static int take_symbols(Py_ssize_t index, PyObject *symbols, Node *node) {
    if (!PyDict_CheckExact(symbols)) return bad_program(index, "an enum needs a dict");
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(symbols, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyLong_CheckExact(value))
            return bad_program(index, "an enum maps str symbols to int indices");
        long long i = PyLong_AsLongLong(value);
        if (i == -1 && PyErr_Occurred()) return -1;
        if (i < 0 || i >= PyDict_GET_SIZE(symbols)) return bad_program(index, "bad enum index");
    }
    node->symbols = Py_NewRef(symbols);
    return 0;
}

/* A union: its branches, and per Python type (K_*) the branch it takes, or -1. */
static int take_union(WriterObject *self, Py_ssize_t index, PyObject *a, PyObject *b, Node *node) {
    if (take_children(self, index, a, node) < 0) return -1;
    if (!PyTuple_Check(b) || PyTuple_GET_SIZE(b) != K_COUNT)
        return bad_program(index, "a union needs one branch choice per Python type");
    for (int k = 0; k < K_COUNT; k++) {
        long branch = PyLong_AsLong(PyTuple_GET_ITEM(b, k));
        if (branch == -1 && PyErr_Occurred()) return -1;
        if (branch < -1 || branch >= node->n || branch > 127)
            return bad_program(index, "branch choice out of range");
        node->branch[k] = (signed char)branch;
    }
    return 0;
}

/* Node i is a tuple (op, a, b, c): a, b and c as the op needs them (native_writer.py). */
static int build_node(WriterObject *self, Py_ssize_t index, PyObject *spec) {
    Node *node = &self->nodes[index];
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 4)
        return bad_program(index, "a node is a tuple (op, a, b, c)");
    long op = PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    if (op == -1 && PyErr_Occurred()) return -1;
    if (op < 0 || op >= OP_COUNT) return bad_program(index, "unknown op");
    node->op = (int)op;
    PyObject *a = PyTuple_GET_ITEM(spec, 1);
    PyObject *b = PyTuple_GET_ITEM(spec, 2);
    PyObject *c = PyTuple_GET_ITEM(spec, 3);
    switch (op) {
    case OP_ENUM:
        return take_symbols(index, a, node);
    case OP_ARRAY:
    case OP_MAP:
        if (take_children(self, index, a, node) < 0) return -1;
        return node->n == 1 ? 0 : bad_program(index, "an array or map has one child");
    case OP_UNION:
        return take_union(self, index, a, b, node);
    case OP_RECORD:
        return take_record(self, index, a, b, c, node);
    default:
        return 0;
    }
}

static PyObject *Writer_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames);

static PyObject *Writer_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"program", "unfit", NULL};
    PyObject *program, *unfit_type;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O:Writer", kwlist, &PyList_Type, &program,
                                     &unfit_type))
        return NULL;
    if (!PyExceptionClass_Check(unfit_type)) {
        PyErr_SetString(PyExc_TypeError, "unfit must be an exception class");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(program);
    if (count == 0) {
        PyErr_SetString(PyExc_ValueError, "avro writer program: no nodes");
        return NULL;
    }
    WriterObject *self = (WriterObject *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->vectorcall = Writer_vectorcall;
    self->unfit = Py_NewRef(unfit_type);
    self->buffer.unfit = self->unfit;
    self->nodes = PyMem_Calloc(count, sizeof(Node));
    if (self->nodes == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->count = count;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (build_node(self, i, PyList_GET_ITEM(program, i)) < 0) {
            Py_DECREF(self);
            return NULL;
        }
    }
    if (self->nodes[0].op != OP_RECORD) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_ValueError, "avro writer program: node 0 must be a record");
        return NULL;
    }
    return (PyObject *)self;
}

static void Writer_dealloc(WriterObject *self) {
    free_nodes(self);
    PyMem_Free(self->buffer.data);
    Py_XDECREF(self->unfit);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Writer_call(WriterObject *self, PyObject *const *args, size_t nargsf,
                             PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Writer(datum, out: bytearray)");
        return NULL;
    }
    PyObject *out = args[1];
    if (!PyByteArray_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "Writer: out must be a bytearray");
        return NULL;
    }
    Buffer *b = &self->buffer;
    b->len = 0;
    int rc = write_node(b, &self->nodes[0], args[0], 0);
    if (rc == 0) {
        Py_ssize_t before = PyByteArray_GET_SIZE(out);
        rc = PyByteArray_Resize(out, before + b->len);
        if (rc == 0) memcpy(PyByteArray_AS_STRING(out) + before, b->data, (size_t)b->len);
    }
    if (b->cap > KEEP_BUFFER) {
        PyMem_Free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
    b->len = 0;
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Writer_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames) {
    return Writer_call((WriterObject *)self, args, nargsf, kwnames);
}

static PyObject *Writer_tp_call(PyObject *self, PyObject *args, PyObject *kwds) {
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Writer takes no keyword arguments");
        return NULL;
    }
    return Writer_call((WriterObject *)self, &PyTuple_GET_ITEM(args, 0),
                       (size_t)PyTuple_GET_SIZE(args), NULL);
}

static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "voicelens.schemas._writer.Writer",
    .tp_doc = "Writer(program, unfit): writer(datum, out: bytearray) -> None",
    .tp_basicsize = sizeof(WriterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(WriterObject, vectorcall),
    .tp_new = Writer_new,
    .tp_dealloc = (destructor)Writer_dealloc,
    .tp_call = Writer_tp_call,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "voicelens.schemas._writer",
    .m_doc = "Python values of a compiled schema to Avro datums (see schemas/native_writer.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__writer(void) {
    if (PyType_Ready(&WriterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Writer", (PyObject *)&WriterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *all = Py_BuildValue("(s)", "Writer");
    if (all == NULL || PyModule_AddObject(m, "__all__", all) < 0) {
        Py_XDECREF(all);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
