/*
 * The native twin of producer/turns.py, the transcript's per-turn loops and the generator's
 * hottest Python: say() writes one transcript's turn texts and fill() makes a block's turn
 * dicts, with the Python functions' signatures. Both are exact ports: the same texts, tags and
 * dicts, keys in the same order, the same state left behind. tests/producer/test_native_turns.py
 * runs each against its Python twin on generated blocks and on hand-made edge cases.
 *
 * Where the Python would fail on malformed input (a missing line key, an index out of range, a
 * renderer returning a non-str) this raises too, with a message naming what was wrong; it does
 * not promise the Python's exception type there. Uniforms outside [0, 1) are refused.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Interned names, made once at import. */
static PyObject *S_speaker, *S_text, *S_start_sec, *S_end_sec, *S_lang, *S_caller;
static PyObject *S_dotdot, *S_dot;
static PyObject *A_lang, *A_table, *A_slots, *A_upset, *A_english_greeting, *A_switch_at,
    *A_first_caller, *A_switch_next, *A_returned, *A_tags, *A_r, *A_lines, *A_spec, *A_fillers,
    *A_texts, *A_render;
static PyObject *K_upset_prefix, *K_return_ack, *K_ask_language, *K_switch_language;

/* r[i] of a call's uniforms (a list of floats). */
static int uniform(PyObject *r, Py_ssize_t i, double *out) {
    if (i < 0 || i >= PyList_GET_SIZE(r)) {
        PyErr_Format(PyExc_IndexError, "uniform %zd of a call's %zd", i, PyList_GET_SIZE(r));
        return -1;
    }
    PyObject *v = PyList_GET_ITEM(r, i);
    if (!PyFloat_CheckExact(v)) {
        PyErr_Format(PyExc_TypeError, "uniform %zd is %.100s, not float", i, Py_TYPE(v)->tp_name);
        return -1;
    }
    *out = PyFloat_AS_DOUBLE(v);
    return 0;
}

/* int(u * n): the choice a uniform makes among n options. */
static int choose(double u, Py_ssize_t n, Py_ssize_t *out) {
    if (!(u >= 0.0 && u < 1.0) || n <= 0) {
        PyErr_Format(PyExc_ValueError, "cannot choose among %zd with a uniform outside [0, 1)",
                     n);
        return -1;
    }
    *out = (Py_ssize_t)(u * (double)n);
    if (*out >= n) { /* u * n rounded up to n: Python's index would be out of range too */
        PyErr_Format(PyExc_IndexError, "choice %zd of %zd", *out, n);
        return -1;
    }
    return 0;
}

/* A tuple attribute of a Lines object (new reference). */
static PyObject *tuple_attr(PyObject *lines, PyObject *name) {
    PyObject *t = PyObject_GetAttr(lines, name);
    if (t != NULL && !PyTuple_CheckExact(t)) {
        PyErr_Format(PyExc_TypeError, "Lines.%U is %.100s, not tuple", name, Py_TYPE(t)->tp_name);
        Py_CLEAR(t);
    }
    return t;
}

/* transcript._pick(lines, u)[0]: one of the texts, never rendered (new reference). */
static PyObject *pick(PyObject *lines, double u) {
    PyObject *texts = tuple_attr(lines, A_texts);
    if (texts == NULL) return NULL;
    Py_ssize_t i;
    PyObject *text = NULL;
    if (choose(u, PyTuple_GET_SIZE(texts), &i) == 0) {
        text = PyTuple_GET_ITEM(texts, i);
        Py_INCREF(text);
    }
    Py_DECREF(texts);
    return text;
}

/* f"{head} {text}", consuming `text` (new reference, or NULL with `text` released). */
static PyObject *prefixed(PyObject *lines, double u, PyObject *text) {
    PyObject *head = pick(lines, u);
    PyObject *out = NULL;
    if (head != NULL) {
        out = PyUnicode_FromFormat("%U %U", head, text);
        Py_DECREF(head);
    }
    Py_DECREF(text);
    return out;
}

/* A bool attribute of the render state. */
static int flag(PyObject *state, PyObject *name) {
    PyObject *v = PyObject_GetAttr(state, name);
    if (v == NULL) return -1;
    int truth = PyObject_IsTrue(v);
    Py_DECREF(v);
    return truth;
}

/* The text of one turn from its line key, before the caller/agent additions (new ref). */
static PyObject *line_text(PyObject *table, PyObject *slots, PyObject *key, double u) {
    PyObject *lines = PyObject_GetItem(table, key);
    if (lines == NULL) return NULL;
    PyObject *texts = tuple_attr(lines, A_texts);
    PyObject *render = texts ? tuple_attr(lines, A_render) : NULL;
    Py_DECREF(lines);
    PyObject *text = NULL;
    Py_ssize_t i;
    if (render == NULL || choose(u, PyTuple_GET_SIZE(texts), &i) < 0) goto done;
    if (i >= PyTuple_GET_SIZE(render)) {
        PyErr_SetString(PyExc_ValueError, "Lines.render is shorter than Lines.texts");
        goto done;
    }
    PyObject *how = PyTuple_GET_ITEM(render, i);
    if (how == Py_None) {
        text = PyTuple_GET_ITEM(texts, i);
        Py_INCREF(text);
        goto done;
    }
    text = PyObject_CallOneArg(how, slots);
    if (text == NULL) goto done;
    if (!PyUnicode_CheckExact(text)) {
        PyErr_Format(PyExc_TypeError, "a line rendered as %.100s, not str", Py_TYPE(text)->tp_name);
        Py_CLEAR(text);
        goto done;
    }
    /* A filler ending in a period ("a.m.") before the line's own. */
    Py_ssize_t found = PyUnicode_Find(text, S_dotdot, 0, PY_SSIZE_T_MAX, 1);
    if (found == -2) {
        Py_CLEAR(text);
    } else if (found >= 0) {
        Py_SETREF(text, PyUnicode_Replace(text, S_dotdot, S_dot, -1));
    }
done:
    Py_XDECREF(texts);
    Py_XDECREF(render);
    return text;
}

typedef struct {
    PyObject *state, *call, *english, *english_tag, *noisy;
    PyObject *r, *lang, *lang_lines, *table, *slots, *tags;
    double noise_rate;
    Py_ssize_t story_fields, turn_fields, switch_at;
    int upset, english_greeting, returned, first_caller, switch_next;
} Say;

/* f"{_pick(lang.lines[key], r[at])[0]} {text}", consuming `text`. */
static PyObject *keyed_prefix(Say *s, PyObject *key, Py_ssize_t at, PyObject *text) {
    double u;
    PyObject *lines = PyObject_GetItem(s->lang_lines, key);
    if (lines == NULL || uniform(s->r, at, &u) < 0) {
        Py_XDECREF(lines);
        Py_DECREF(text);
        return NULL;
    }
    PyObject *out = prefixed(lines, u, text);
    Py_DECREF(lines);
    return out;
}

/* One turn's text and tag (new references in *text_out; *tag_out borrowed). */
static int one_turn(Say *s, Py_ssize_t t, PyObject *speaker, PyObject *key, PyObject **text_out,
                    PyObject **tag_out) {
    Py_ssize_t at = s->story_fields + s->turn_fields * t;
    PyObject *table = s->table, *slots = s->slots, *tag = Py_None, *pair = NULL;
    double u;
    if (t == s->switch_at || (s->english_greeting && t == 0)) {
        pair = PyObject_CallFunctionObjArgs(s->english, s->state, s->call, NULL);
        if (pair == NULL) return -1;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "english() must return (table, slots)");
            Py_DECREF(pair);
            return -1;
        }
        table = PyTuple_GET_ITEM(pair, 0);
        slots = PyTuple_GET_ITEM(pair, 1);
        tag = s->english_tag;
    }
    if (uniform(s->r, at, &u) < 0) {
        Py_XDECREF(pair);
        return -1;
    }
    PyObject *text = line_text(table, slots, key, u);
    Py_XDECREF(pair);
    if (text == NULL) return -1;
    int caller = PyUnicode_Compare(speaker, S_caller) == 0;
    if (caller) {
        if (s->first_caller) {
            s->first_caller = 0;
            if (s->upset && (text = keyed_prefix(s, K_upset_prefix, 19, text)) == NULL) return -1;
            /* Answering the agent who called back. */
            if (s->returned && (text = keyed_prefix(s, K_return_ack, 0, text)) == NULL) return -1;
            PyObject *ask = PyDict_GetItemWithError(s->lang_lines, K_ask_language);
            if (ask == NULL && PyErr_Occurred()) goto fail;
            if (s->english_greeting && ask != NULL) {
                if (uniform(s->r, 20, &u) < 0) goto fail;
                text = prefixed(ask, u, text);
                if (text == NULL) return -1;
                s->switch_next = 1;
            }
        }
        double noise;
        if (uniform(s->r, at + 2, &noise) < 0) goto fail;
        if (noise < s->noise_rate && tag == Py_None) {
            PyObject *spec = PyObject_GetAttr(s->lang, A_spec);
            PyObject *fillers = spec ? PyObject_GetAttr(spec, A_fillers) : NULL;
            Py_XDECREF(spec);
            if (fillers == NULL) goto fail;
            PyObject *share = PyFloat_FromDouble(noise / s->noise_rate);
            PyObject *noisy =
                share ? PyObject_CallFunctionObjArgs(s->noisy, text, fillers, share, NULL) : NULL;
            Py_XDECREF(share);
            Py_DECREF(fillers);
            Py_DECREF(text);
            if (noisy == NULL) return -1;
            text = noisy;
        }
    } else if (s->switch_next) {
        s->switch_next = 0;
        PyObject *lines = PyDict_GetItemWithError(s->lang_lines, K_switch_language);
        if (lines == NULL && PyErr_Occurred()) goto fail;
        if (lines != NULL) {
            if (uniform(s->r, 21, &u) < 0) goto fail;
            text = prefixed(lines, u, text);
            if (text == NULL) return -1;
        }
    }
    *text_out = text;
    *tag_out = tag;
    return 0;
fail:
    Py_DECREF(text);
    return -1;
}

static int read_state(Say *s) {
    PyObject *switch_at;
    s->r = PyObject_GetAttr(s->call, A_r);
    s->lang = PyObject_GetAttr(s->state, A_lang);
    s->table = PyObject_GetAttr(s->state, A_table);
    s->slots = PyObject_GetAttr(s->state, A_slots);
    s->tags = PyObject_GetAttr(s->state, A_tags);
    if (!s->r || !s->lang || !s->table || !s->slots || !s->tags) return -1;
    if (!PyList_CheckExact(s->r) || !PyList_CheckExact(s->tags)) {
        PyErr_SetString(PyExc_TypeError, "call.r and state.tags must be lists");
        return -1;
    }
    s->lang_lines = PyObject_GetAttr(s->lang, A_lines);
    if (s->lang_lines == NULL) return -1;
    if (!PyDict_Check(s->lang_lines)) {
        PyErr_SetString(PyExc_TypeError, "Language.lines must be a dict");
        return -1;
    }
    if ((s->upset = flag(s->state, A_upset)) < 0) return -1;
    if ((s->english_greeting = flag(s->state, A_english_greeting)) < 0) return -1;
    if ((s->returned = flag(s->state, A_returned)) < 0) return -1;
    if ((s->first_caller = flag(s->state, A_first_caller)) < 0) return -1;
    if ((s->switch_next = flag(s->state, A_switch_next)) < 0) return -1;
    switch_at = PyObject_GetAttr(s->state, A_switch_at);
    if (switch_at == NULL) return -1;
    s->switch_at = PyLong_AsSsize_t(switch_at);
    Py_DECREF(switch_at);
    return s->switch_at == -1 && PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(say_doc,
             "say(state, beats, base, call, english, context) -> list[str]\n\n"
             "turns.say natively: the texts of `beats`, turn base + k drawing on its\n"
             "own uniforms; appends each turn's tag to state.tags and leaves state.first_caller\n"
             "and state.switch_next as the Python does. `english(state, call)` gives the English\n"
             "(table, slots); context is (noise_rate, noisy, english_tag, story_fields,\n"
             "turn_fields).");

static PyObject *say(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "say() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    Say s = {0};
    s.state = args[0];
    PyObject *beats = args[1];
    Py_ssize_t base = PyLong_AsSsize_t(args[2]);
    if (base == -1 && PyErr_Occurred()) return NULL;
    s.call = args[3];
    s.english = args[4];
    PyObject *context = args[5];
    if (!PyTuple_CheckExact(beats) || !PyTuple_CheckExact(context) ||
        PyTuple_GET_SIZE(context) != 5) {
        PyErr_SetString(PyExc_TypeError, "beats must be a tuple, context a 5-tuple");
        return NULL;
    }
    s.noise_rate = PyFloat_AsDouble(PyTuple_GET_ITEM(context, 0));
    s.noisy = PyTuple_GET_ITEM(context, 1);
    s.english_tag = PyTuple_GET_ITEM(context, 2);
    s.story_fields = PyLong_AsSsize_t(PyTuple_GET_ITEM(context, 3));
    s.turn_fields = PyLong_AsSsize_t(PyTuple_GET_ITEM(context, 4));
    if (PyErr_Occurred()) return NULL;
    PyObject *texts = NULL;
    if (read_state(&s) < 0) goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(beats);
    texts = PyList_New(n);
    if (texts == NULL) goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *beat = PyTuple_GET_ITEM(beats, k);
        if (!PyTuple_CheckExact(beat) || PyTuple_GET_SIZE(beat) != 2 ||
            !PyUnicode_CheckExact(PyTuple_GET_ITEM(beat, 0))) {
            PyErr_SetString(PyExc_TypeError, "a beat must be a (speaker, key) tuple");
            Py_CLEAR(texts);
            goto done;
        }
        PyObject *text, *tag;
        if (one_turn(&s, base + k, PyTuple_GET_ITEM(beat, 0), PyTuple_GET_ITEM(beat, 1), &text,
                     &tag) < 0) {
            Py_CLEAR(texts);
            goto done;
        }
        PyList_SET_ITEM(texts, k, text);
        if (PyList_Append(s.tags, tag) < 0) {
            Py_CLEAR(texts);
            goto done;
        }
    }
    /* What the Python leaves on the state for the call's next say(). */
    if (PyObject_SetAttr(s.state, A_first_caller, s.first_caller ? Py_True : Py_False) < 0 ||
        PyObject_SetAttr(s.state, A_switch_next, s.switch_next ? Py_True : Py_False) < 0) {
        Py_CLEAR(texts);
    }
done:
    Py_XDECREF(s.r);
    Py_XDECREF(s.lang);
    Py_XDECREF(s.lang_lines);
    Py_XDECREF(s.table);
    Py_XDECREF(s.slots);
    Py_XDECREF(s.tags);
    return texts;
}

PyDoc_STRVAR(fill_doc,
             "fill(said, begins, ends) -> None\n\n"
             "turns.fill natively: appends each transcript's turn dicts (speaker, text, start_sec,\n"
             "end_sec, and lang where tagged) to its list; `said` holds (turns, beats, texts,\n"
             "tags) per transcript, begins/ends the block's times in the same order.");

static PyObject *fill(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "fill() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *said = args[0], *begins = args[1], *ends = args[2];
    if (!PyList_CheckExact(said) || !PyList_CheckExact(begins) || !PyList_CheckExact(ends)) {
        PyErr_SetString(PyExc_TypeError, "said, begins and ends must be lists");
        return NULL;
    }
    Py_ssize_t k = 0, total = PyList_GET_SIZE(begins);
    if (PyList_GET_SIZE(ends) != total) {
        PyErr_SetString(PyExc_ValueError, "begins and ends differ in length");
        return NULL;
    }
    for (Py_ssize_t c = 0; c < PyList_GET_SIZE(said); c++) {
        PyObject *one = PyList_GET_ITEM(said, c);
        if (!PyTuple_CheckExact(one) || PyTuple_GET_SIZE(one) != 4) {
            PyErr_SetString(PyExc_TypeError, "said holds (turns, beats, texts, tags) tuples");
            return NULL;
        }
        PyObject *turns = PyTuple_GET_ITEM(one, 0), *beats = PyTuple_GET_ITEM(one, 1);
        PyObject *texts = PyTuple_GET_ITEM(one, 2), *tags = PyTuple_GET_ITEM(one, 3);
        if (!PyList_CheckExact(turns) || !PyTuple_CheckExact(beats) ||
            !PyList_CheckExact(texts) || !PyList_CheckExact(tags)) {
            PyErr_SetString(PyExc_TypeError, "said holds (list, tuple, list, list) tuples");
            return NULL;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(beats);
        if (PyList_GET_SIZE(texts) != n || PyList_GET_SIZE(tags) != n) {
            PyErr_SetString(PyExc_ValueError, "a transcript's beats, texts and tags differ in length");
            return NULL;
        }
        if (total - k < n) {
            PyErr_SetString(PyExc_IndexError, "fewer times than turns");
            return NULL;
        }
        for (Py_ssize_t i = 0; i < n; i++, k++) {
            PyObject *beat = PyTuple_GET_ITEM(beats, i);
            if (!PyTuple_Check(beat) || PyTuple_GET_SIZE(beat) < 1) {
                PyErr_SetString(PyExc_TypeError, "a beat must be a (speaker, key) tuple");
                return NULL;
            }
            PyObject *tag = PyList_GET_ITEM(tags, i);
            PyObject *turn = PyDict_New();
            if (turn == NULL) return NULL;
            if (PyDict_SetItem(turn, S_speaker, PyTuple_GET_ITEM(beat, 0)) < 0 ||
                PyDict_SetItem(turn, S_text, PyList_GET_ITEM(texts, i)) < 0 ||
                PyDict_SetItem(turn, S_start_sec, PyList_GET_ITEM(begins, k)) < 0 ||
                PyDict_SetItem(turn, S_end_sec, PyList_GET_ITEM(ends, k)) < 0 ||
                (tag != Py_None && PyDict_SetItem(turn, S_lang, tag) < 0) ||
                PyList_Append(turns, turn) < 0) {
                Py_DECREF(turn);
                return NULL;
            }
            Py_DECREF(turn);
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"say", (PyCFunction)(void (*)(void))say, METH_FASTCALL, say_doc},
    {"fill", (PyCFunction)(void (*)(void))fill, METH_FASTCALL, fill_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "voicelens.producer._turns",
    "The per-turn loops of producer/transcript.py, natively.", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int intern(PyObject **slot, const char *text) {
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__turns(void) {
    if (intern(&S_speaker, "speaker") || intern(&S_text, "text") ||
        intern(&S_start_sec, "start_sec") || intern(&S_end_sec, "end_sec") ||
        intern(&S_lang, "lang") || intern(&S_caller, "caller") || intern(&S_dotdot, "..") ||
        intern(&S_dot, ".") || intern(&A_lang, "lang") || intern(&A_table, "table") ||
        intern(&A_slots, "slots") || intern(&A_upset, "upset") ||
        intern(&A_english_greeting, "english_greeting") || intern(&A_switch_at, "switch_at") ||
        intern(&A_first_caller, "first_caller") || intern(&A_switch_next, "switch_next") ||
        intern(&A_returned, "returned") || intern(&A_tags, "tags") || intern(&A_r, "r") ||
        intern(&A_lines, "lines") || intern(&A_spec, "spec") || intern(&A_fillers, "fillers") ||
        intern(&A_texts, "texts") || intern(&A_render, "render") ||
        intern(&K_upset_prefix, "caller.upset_prefix") ||
        intern(&K_return_ack, "caller.return_ack") ||
        intern(&K_ask_language, "caller.ask_language") ||
        intern(&K_switch_language, "agent.switch_language")) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *all = Py_BuildValue("(ss)", "fill", "say");
    if (all == NULL || PyModule_AddObject(m, "__all__", all) < 0) {
        Py_XDECREF(all);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
