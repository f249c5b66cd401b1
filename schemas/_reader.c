/*
 * The native twin of schemas/reader.py: reads one Avro datum of a compiled schema straight
 * from a bytes object into Python values (dicts in field order, lists, str, int, float, bool,
 * None), the values fastavro's schemaless_reader returns.
 *
 * schemas/native_reader.py turns a parsed schema into a flat program (a list of nodes, each
 * naming its children by index, so a record type that contains itself is a cycle) and hands it
 * to Reader(). Reader(data, position) returns (value, position after it). Wherever the Python
 * reader raises one of its fallback errors (a varint beyond 64 bits, a boolean byte above 1, a
 * negative length, an unknown union branch or enum symbol, invalid UTF-8, a read past the end)
 * this raises the `unfit` exception the program was built with, and the caller asks fastavro.
 * It is stricter in one place only, and only ever by asking fastavro: a string that runs past
 * the end is unfit here, where the Python reader returns it cut off and the caller's end check
 * sends the record to fastavro.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
    OP_LOGICAL = 12,
    OP_COUNT = 13
};

/* Deeper nesting than this (only a record type that contains itself gets there) is unfit. */
#define MAX_DEPTH 200

typedef struct Node {
    int op;
    Py_ssize_t n;            /* fields, branches or symbols */
    struct Node **children;  /* record fields, union branches; [0]: array item, map value, base */
    PyObject **names;        /* record field names, enum symbols (strong references) */
    PyObject *convert;       /* logical: fastavro's conversion */
    PyObject *schema;        /* logical: the schema it is given */
} Node;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Node *nodes;
    Py_ssize_t count;
    PyObject *unfit;
} ReaderObject;

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    PyObject *unfit;
} Cursor;

static PyObject *read_node(Cursor *c, const Node *node, int depth);

static int unfit(Cursor *c) {
    PyErr_SetNone(c->unfit);
    return -1;
}

/* A zig-zag varint of up to 10 bytes; unfit beyond 64 bits (fastavro wraps those). */
static int read_varint(Cursor *c, int64_t *out) {
    uint64_t z = 0;
    int shift = 0;
    for (;;) {
        if (c->p >= c->end) return unfit(c);
        unsigned char byte = *c->p++;
        if (shift == 63) {
            if (byte & 0xFE) return unfit(c); /* more bits, or more bytes: beyond 64 bits */
            z |= (uint64_t)byte << 63;
            break;
        }
        z |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) break;
        shift += 7;
    }
    *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}

static int read_length(Cursor *c, int64_t *out) {
    if (read_varint(c, out) < 0) return -1;
    if (*out < 0) return unfit(c);
    return 0;
}

static PyObject *read_string(Cursor *c) {
    int64_t n;
    if (read_length(c, &n) < 0) return NULL;
    if (n > c->end - c->p) {
        unfit(c);
        return NULL;
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)c->p, (Py_ssize_t)n, "strict");
    if (s == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            unfit(c);
        }
        return NULL;
    }
    c->p += n;
    return s;
}

/* Array and map blocks: a count (negative: its absolute value, then a byte size), items, and
 * a zero count at the end. */
static PyObject *read_blocks(Cursor *c, const Node *node, int depth) {
    int is_map = node->op == OP_MAP;
    PyObject *out = is_map ? PyDict_New() : PyList_New(0);
    if (out == NULL) return NULL;
    for (;;) {
        int64_t count, size;
        if (read_varint(c, &count) < 0) goto fail;
        if (count == 0) return out;
        if (count < 0) {
            if (count == INT64_MIN) {
                unfit(c);
                goto fail;
            }
            count = -count;
            if (read_length(c, &size) < 0) goto fail;
        }
        /* Every item takes at least one byte here: a count beyond the bytes left is corrupt. */
        if (count > c->end - c->p) {
            unfit(c);
            goto fail;
        }
        for (int64_t i = 0; i < count; i++) {
            PyObject *key = NULL;
            if (is_map && (key = read_string(c)) == NULL) goto fail;
            PyObject *item = read_node(c, node->children[0], depth + 1);
            if (item == NULL) {
                Py_XDECREF(key);
                goto fail;
            }
            int rc = is_map ? PyDict_SetItem(out, key, item) : PyList_Append(out, item);
            Py_XDECREF(key);
            Py_DECREF(item);
            if (rc < 0) goto fail;
        }
    }
fail:
    Py_DECREF(out);
    return NULL;
}

static PyObject *read_node(Cursor *c, const Node *node, int depth) {
    int64_t v;
    if (depth > MAX_DEPTH) {
        unfit(c);
        return NULL;
    }
    switch (node->op) {
    case OP_NULL:
        Py_RETURN_NONE;
    case OP_BOOLEAN:
        if (c->p >= c->end || *c->p > 1) {
            unfit(c);
            return NULL;
        }
        if (*c->p++) Py_RETURN_TRUE;
        Py_RETURN_FALSE;
    case OP_INT:
        if (read_varint(c, &v) < 0) return NULL;
        if (v < INT32_MIN || v > INT32_MAX) {
            unfit(c);
            return NULL;
        }
        return PyLong_FromLongLong(v);
    case OP_LONG:
        if (read_varint(c, &v) < 0) return NULL;
        return PyLong_FromLongLong(v);
    case OP_FLOAT: {
        if (c->end - c->p < 4) {
            unfit(c);
            return NULL;
        }
        double d = PyFloat_Unpack4((const char *)c->p, 1);
        if (d == -1.0 && PyErr_Occurred()) return NULL;
        c->p += 4;
        return PyFloat_FromDouble(d);
    }
    case OP_DOUBLE: {
        if (c->end - c->p < 8) {
            unfit(c);
            return NULL;
        }
        double d = PyFloat_Unpack8((const char *)c->p, 1);
        if (d == -1.0 && PyErr_Occurred()) return NULL;
        c->p += 8;
        return PyFloat_FromDouble(d);
    }
    case OP_STRING:
        return read_string(c);
    case OP_ENUM:
        if (read_varint(c, &v) < 0) return NULL;
        if (v < 0 || v >= node->n) {
            unfit(c);
            return NULL;
        }
        return Py_NewRef(node->names[v]);
    case OP_ARRAY:
    case OP_MAP:
        return read_blocks(c, node, depth);
    case OP_UNION:
        if (read_varint(c, &v) < 0) return NULL;
        if (v < 0 || v >= node->n) {
            unfit(c);
            return NULL;
        }
        return read_node(c, node->children[v], depth + 1);
    case OP_RECORD: {
        PyObject *record = _PyDict_NewPresized(node->n);
        if (record == NULL) return NULL;
        for (Py_ssize_t i = 0; i < node->n; i++) {
            PyObject *value = read_node(c, node->children[i], depth + 1);
            if (value == NULL || PyDict_SetItem(record, node->names[i], value) < 0) {
                Py_XDECREF(value);
                Py_DECREF(record);
                return NULL;
            }
            Py_DECREF(value);
        }
        return record;
    }
    case OP_LOGICAL: {
        PyObject *raw = read_node(c, node->children[0], depth + 1);
        if (raw == NULL) return NULL;
        PyObject *value =
            PyObject_CallFunctionObjArgs(node->convert, raw, node->schema, node->schema, NULL);
        Py_DECREF(raw);
        return value;
    }
    default:
        PyErr_Format(PyExc_SystemError, "avro reader: bad node op %d", node->op);
        return NULL;
    }
}

/* ------------------------------------------------------------------ the Reader type */

static void free_nodes(ReaderObject *self) {
    if (self->nodes == NULL) return;
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Node *node = &self->nodes[i];
        if (node->names != NULL) {
            for (Py_ssize_t k = 0; k < node->n; k++) Py_XDECREF(node->names[k]);
            PyMem_Free(node->names);
        }
        PyMem_Free(node->children);
        Py_XDECREF(node->convert);
        Py_XDECREF(node->schema);
    }
    PyMem_Free(self->nodes);
    self->nodes = NULL;
}

static int bad_program(Py_ssize_t index, const char *what) {
    PyErr_Format(PyExc_ValueError, "avro reader program: node %zd: %s", index, what);
    return -1;
}

/* children: a tuple of node indices. */
static int take_children(ReaderObject *self, Py_ssize_t index, PyObject *indices, Node *node) {
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

/* names: a tuple of str (field names, enum symbols). */
static int take_names(Py_ssize_t index, PyObject *names, Node *node) {
    if (!PyTuple_Check(names)) return bad_program(index, "names must be a tuple");
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    node->names = PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
    if (node->names == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        if (!PyUnicode_Check(name)) return bad_program(index, "names must be str");
        node->names[k] = Py_NewRef(name);
    }
    node->n = n;
    return 0;
}

/* Node i is a tuple (op, a, b): a and b as the op needs them (native_reader.py). */
static int build_node(ReaderObject *self, Py_ssize_t index, PyObject *spec) {
    Node *node = &self->nodes[index];
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3)
        return bad_program(index, "a node is a tuple (op, a, b)");
    long op = PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    if (op == -1 && PyErr_Occurred()) return -1;
    if (op < 0 || op >= OP_COUNT) return bad_program(index, "unknown op");
    node->op = (int)op;
    PyObject *a = PyTuple_GET_ITEM(spec, 1);
    PyObject *b = PyTuple_GET_ITEM(spec, 2);
    switch (op) {
    case OP_ENUM:
        return take_names(index, a, node);
    case OP_ARRAY:
    case OP_MAP:
    case OP_UNION:
        return take_children(self, index, a, node);
    case OP_RECORD:
        if (take_names(index, a, node) < 0) return -1;
        if (!PyTuple_Check(b) || PyTuple_GET_SIZE(b) != node->n)
            return bad_program(index, "a record needs one child per field");
        {
            Py_ssize_t fields = node->n;
            if (take_children(self, index, b, node) < 0) return -1;
            node->n = fields;
        }
        return 0;
    case OP_LOGICAL:
        if (take_children(self, index, a, node) < 0) return -1;
        if (node->n != 1) return bad_program(index, "a logical type has one base");
        if (!PyTuple_Check(b) || PyTuple_GET_SIZE(b) != 2 ||
            !PyCallable_Check(PyTuple_GET_ITEM(b, 0)))
            return bad_program(index, "a logical type needs (convert, schema)");
        node->convert = Py_NewRef(PyTuple_GET_ITEM(b, 0));
        node->schema = Py_NewRef(PyTuple_GET_ITEM(b, 1));
        return 0;
    default:
        return 0;
    }
}

static int check_arrays(ReaderObject *self) {
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Node *node = &self->nodes[i];
        if ((node->op == OP_ARRAY || node->op == OP_MAP) && node->n != 1)
            return bad_program(i, "an array or map has one child");
    }
    return 0;
}

static PyObject *Reader_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames);

static PyObject *Reader_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"program", "unfit", NULL};
    PyObject *program, *unfit_type;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O:Reader", kwlist, &PyList_Type, &program,
                                     &unfit_type))
        return NULL;
    if (!PyExceptionClass_Check(unfit_type)) {
        PyErr_SetString(PyExc_TypeError, "unfit must be an exception class");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(program);
    if (count == 0) {
        PyErr_SetString(PyExc_ValueError, "avro reader program: no nodes");
        return NULL;
    }
    ReaderObject *self = (ReaderObject *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->vectorcall = Reader_vectorcall;
    self->unfit = Py_NewRef(unfit_type);
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
    if (check_arrays(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void Reader_dealloc(ReaderObject *self) {
    free_nodes(self);
    Py_XDECREF(self->unfit);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Reader_call(ReaderObject *self, PyObject *const *args, size_t nargsf,
                             PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Reader(data: bytes, position: int)");
        return NULL;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "Reader: data must be bytes");
        return NULL;
    }
    Py_ssize_t position = PyLong_AsSsize_t(args[1]);
    if (position == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    if (position < 0 || position > size) {
        PyErr_SetNone(self->unfit);
        return NULL;
    }
    Cursor c = {data + position, data + size, self->unfit};
    PyObject *value = read_node(&c, &self->nodes[0], 0);
    if (value == NULL) return NULL;
    PyObject *end = PyLong_FromSsize_t((Py_ssize_t)(c.p - data));
    if (end == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, value, end);
    Py_DECREF(value);
    Py_DECREF(end);
    return out;
}

static PyObject *Reader_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames) {
    return Reader_call((ReaderObject *)self, args, nargsf, kwnames);
}

static PyObject *Reader_tp_call(PyObject *self, PyObject *args, PyObject *kwds) {
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Reader takes no keyword arguments");
        return NULL;
    }
    return Reader_call((ReaderObject *)self, &PyTuple_GET_ITEM(args, 0),
                       (size_t)PyTuple_GET_SIZE(args), NULL);
}

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "voicelens.schemas._reader.Reader",
    .tp_doc = "Reader(program, unfit): reader(data, position) -> (value, end)",
    .tp_basicsize = sizeof(ReaderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(ReaderObject, vectorcall),
    .tp_new = Reader_new,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_call = Reader_tp_call,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "voicelens.schemas._reader",
    .m_doc = "Avro datums of a compiled schema to Python values (see schemas/native_reader.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__reader(void) {
    if (PyType_Ready(&ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *all = Py_BuildValue("(s)", "Reader");
    if (all == NULL || PyModule_AddObject(m, "__all__", all) < 0) {
        Py_XDECREF(all);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
