/*
 * Frequent itemsets by occurrence delivery, depth first: the compiled kernel of
 * patron.analytics._itemsets (which keeps a numpy version of the same search as its fall-back
 * and as the reference the tests hold this one to).
 *
 * The frequent items are ranked by ascending support; each basket is stored as its frequent
 * items in rank order, one flat table. An occurrence of an itemset is the position, inside a
 * basket, of the itemset's highest-ranked item; the items stored after it in that basket are
 * exactly those that can extend the itemset there, so one pass over an itemset's occurrences
 * counts all its extensions and a second pass hands each frequent extension its occurrences
 * (Uno, Kiyomi & Arimura, "LCM ver. 2", FIMI 2004, "occurrence deliver"). An item is counted for
 * an itemset Q = P + {e} only when P + {item} is frequent (Apriori; FP-growth's conditional
 * database): each item carries the depth of the deepest itemset on the current path it extends.
 *
 * The itemsets of each length come out in ascending (prefix id, last rank) order, which is the
 * order the numpy search and everything after it (the itemset table, the rules) number them in:
 * an itemset's children are written together, in rank order, when it is visited, and the
 * itemsets of one length are visited in that same order.
 *
 * Memory: the basket table (two 32-bit numbers per kept entry), one occurrence list per frequent
 * item, and a stack of the occurrence lists along the current path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t rank, count;
    size_t start; /* its occurrences, on the stack */
} Frequent;

typedef struct {
    int64_t *prefix, *last, *count;
    Py_ssize_t size, capacity;
} Level;

typedef struct {
    const uint32_t *items; /* rank of each kept entry, basket after basket */
    const uint32_t *end;   /* for each entry, the end of its basket in the table */
    Py_ssize_t n_frequent;
    uint32_t min_count;
    Py_ssize_t max_len; /* 0: no limit */
    uint32_t *count;    /* per rank: how often it extends the current itemset */
    uint32_t *fill;     /* per rank: where its next occurrence goes (0, a spare slot, if none) */
    uint32_t *step;     /* per rank: 1 while its occurrences are being handed out, else 0 */
    int32_t *mark;      /* per rank: length of the longest itemset on the path it extends */
    uint32_t *stack;    /* occurrence lists of the path; stack[0] takes the discarded ones */
    size_t stack_size, stack_capacity;
    Frequent *found; /* frequent extensions of the itemsets on the path */
    size_t found_size, found_capacity;
    Level *levels; /* levels[k] holds the itemsets of length k + 2 */
    Py_ssize_t n_levels;
} Search;

static int grow(void **data, size_t *capacity, size_t wanted, size_t width)
{
    if (wanted <= *capacity) return 0;
    size_t capacity_ = *capacity ? *capacity : 1024;
    while (capacity_ < wanted) capacity_ *= 2;
    void *grown = realloc(*data, capacity_ * width);
    if (grown == NULL) return -1;
    *data = grown;
    *capacity = capacity_;
    return 0;
}

static int level_add(Search *search, Py_ssize_t length, int64_t prefix, int64_t last,
                     int64_t count)
{
    Py_ssize_t index = length - 2;
    if (index >= search->n_levels) {
        Level *levels = realloc(search->levels, (size_t)(index + 1) * sizeof(Level));
        if (levels == NULL) return -1;
        memset(levels + search->n_levels, 0,
               (size_t)(index + 1 - search->n_levels) * sizeof(Level));
        search->levels = levels;
        search->n_levels = index + 1;
    }
    Level *level = &search->levels[index];
    if (level->size == level->capacity) {
        size_t capacity = (size_t)level->capacity;
        size_t wanted = (size_t)level->size + 1;
        size_t old = capacity;
        if (grow((void **)&level->prefix, &capacity, wanted, sizeof(int64_t))) return -1;
        capacity = old;
        if (grow((void **)&level->last, &capacity, wanted, sizeof(int64_t))) return -1;
        capacity = old;
        if (grow((void **)&level->count, &capacity, wanted, sizeof(int64_t))) return -1;
        level->capacity = (Py_ssize_t)capacity;
    }
    level->prefix[level->size] = prefix;
    level->last[level->size] = last;
    level->count[level->size] = count;
    level->size++;
    return 0;
}

static int compare_frequent(const void *a, const void *b)
{
    uint32_t x = ((const Frequent *)a)->rank, y = ((const Frequent *)b)->rank;
    return (x > y) - (x < y);
}

static int push_frequent(Search *search, uint32_t rank)
{
    if (grow((void **)&search->found, &search->found_capacity, search->found_size + 1,
             sizeof(Frequent)))
        return -1;
    search->found[search->found_size].rank = rank;
    search->found[search->found_size].count = search->count[rank];
    search->found_size++;
    return 0;
}

/* Visit the itemset of `length` items whose id among those of its length is `id` and whose
 * occurrences are stack[start : start + n]: write its frequent extensions, then visit them.
 * Its possible extensions are the frequent extensions of its parent ranked after its own last
 * item, found[candidates : candidates_end]; for a single item (length 1), every item. */
static int visit(Search *search, Py_ssize_t length, int64_t id, size_t start, size_t n,
                 size_t candidates, size_t candidates_end)
{
    if (search->max_len && length + 1 > search->max_len) return 0;
    const uint32_t *restrict items = search->items;
    const uint32_t *restrict end = search->end;
    uint32_t *restrict count = search->count;
    const int32_t *restrict mark = search->mark;
    const int32_t allowed = (int32_t)(length - 1);
    const uint32_t min_count = search->min_count;
    const uint32_t *occurrences = search->stack + start;

    /* Count every extension: an item that does not extend the parent adds nothing. */
    size_t delivered = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t position = occurrences[j], stop = end[position];
        delivered += stop - position - 1;
        for (uint32_t q = position + 1; q < stop; q++) count[items[q]] += mark[items[q]] >= allowed;
    }
    /* Keep the frequent ones, in rank order, and clear the counts of the rest. */
    size_t first = search->found_size;
    if (length > 1) {
        for (size_t c = candidates; c < candidates_end; c++) {
            uint32_t rank = search->found[c].rank;
            if (count[rank] >= min_count) {
                if (push_frequent(search, rank)) return -1;
            } else {
                count[rank] = 0;
            }
        }
    } else if ((size_t)search->n_frequent - (size_t)id <= 2 * delivered + 64) {
        for (uint32_t rank = (uint32_t)id + 1; rank < (uint32_t)search->n_frequent; rank++) {
            if (count[rank] >= min_count) {
                if (push_frequent(search, rank)) return -1;
            } else {
                count[rank] = 0;
            }
        }
    } else { /* few baskets among many items: look at the items delivered, not at them all */
        uint32_t *restrict step = search->step;
        for (size_t j = 0; j < n; j++) {
            uint32_t position = occurrences[j];
            for (uint32_t q = position + 1; q < end[position]; q++) {
                uint32_t rank = items[q];
                if (step[rank]) continue;
                step[rank] = 1;
                if (count[rank] >= min_count && push_frequent(search, rank)) return -1;
            }
        }
        for (size_t j = 0; j < n; j++) {
            uint32_t position = occurrences[j];
            for (uint32_t q = position + 1; q < end[position]; q++) {
                uint32_t rank = items[q];
                step[rank] = 0;
                if (count[rank] < min_count) count[rank] = 0;
            }
        }
        qsort(search->found + first, search->found_size - first, sizeof(Frequent),
              compare_frequent);
    }
    size_t kept = search->found_size;
    if (kept == first) return 0;
    /* Lay out the children's occurrence lists on the stack, then deliver into them. */
    size_t top = search->stack_size;
    uint32_t *restrict fill = search->fill;
    uint32_t *restrict step = search->step;
    for (size_t t = first; t < kept; t++) {
        Frequent *child = &search->found[t];
        child->start = top;
        fill[child->rank] = (uint32_t)top;
        step[child->rank] = 1;
        count[child->rank] = 0;
        top += child->count;
    }
    if (top >= UINT32_MAX) return -1;
    if (grow((void **)&search->stack, &search->stack_capacity, top, sizeof(uint32_t))) return -1;
    uint32_t *restrict stack = search->stack;
    occurrences = stack + start;
    for (size_t j = 0; j < n; j++) {
        uint32_t position = occurrences[j], stop = end[position];
        for (uint32_t q = position + 1; q < stop; q++) {
            uint32_t rank = items[q], at = fill[rank];
            stack[at] = q; /* slot 0 when the item is not handed occurrences here */
            fill[rank] = at + step[rank];
        }
    }
    search->stack_size = top;
    /* Write the children (their ids follow the ones written so far), mark them, visit them. */
    int64_t first_id = length - 1 < search->n_levels ? search->levels[length - 1].size : 0;
    for (size_t t = first; t < kept; t++) {
        Frequent child = search->found[t];
        fill[child.rank] = 0;
        step[child.rank] = 0;
        search->mark[child.rank] = (int32_t)length;
        if (level_add(search, length + 1, id, child.rank, child.count)) return -1;
    }
    for (size_t t = first; t < kept; t++) {
        Frequent child = search->found[t];
        if (visit(search, length + 1, first_id + (int64_t)(t - first), child.start, child.count,
                  t + 1, kept))
            return -1;
    }
    for (size_t t = first; t < kept; t++) search->mark[search->found[t].rank] = allowed;
    search->stack_size = search->found[first].start;
    search->found_size = first;
    return 0;
}

static int get_buffer(PyObject *object, Py_buffer *view, Py_ssize_t itemsize, const char *name)
{
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s must hold %zd-byte integers", name, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *level_bytes(int64_t *data, Py_ssize_t size)
{
    return PyByteArray_FromStringAndSize((const char *)data, size * (Py_ssize_t)sizeof(int64_t));
}

PyDoc_STRVAR(mine_doc,
             "mine(indptr, indices, rank_of, n_frequent, min_count, max_len)\n--\n\n"
             "The frequent itemsets of two items or more, as one (prefix, last, count) triple of\n"
             "bytearrays of 64-bit integers per length, from 2 up. indptr (int64) and indices\n"
             "(int32) are the baskets as compressed sparse rows of item codes; rank_of (int32)\n"
             "gives each item code's rank, -1 for an infrequent item; max_len 0 sets no limit.");

static PyObject *mine(PyObject *self, PyObject *args)
{
    PyObject *indptr_obj, *indices_obj, *rank_of_obj;
    Py_ssize_t n_frequent, max_len;
    long long min_count;
    if (!PyArg_ParseTuple(args, "OOOnLn", &indptr_obj, &indices_obj, &rank_of_obj, &n_frequent,
                          &min_count, &max_len))
        return NULL;
    if (min_count < 1 || n_frequent < 0 || max_len < 0) {
        PyErr_SetString(PyExc_ValueError, "min_count must be >= 1, n_frequent and max_len >= 0");
        return NULL;
    }
    Py_buffer indptr_view, indices_view, rank_view;
    if (get_buffer(indptr_obj, &indptr_view, 8, "indptr") < 0) return NULL;
    if (get_buffer(indices_obj, &indices_view, 4, "indices") < 0) {
        PyBuffer_Release(&indptr_view);
        return NULL;
    }
    if (get_buffer(rank_of_obj, &rank_view, 4, "rank_of") < 0) {
        PyBuffer_Release(&indptr_view);
        PyBuffer_Release(&indices_view);
        return NULL;
    }
    const int64_t *indptr = indptr_view.buf;
    const int32_t *indices = indices_view.buf;
    const int32_t *rank_of = rank_view.buf;
    Py_ssize_t n_baskets = indptr_view.len / 8 - 1;
    Py_ssize_t n_indices = indices_view.len / 4, n_codes = rank_view.len / 4;

    Search search = {0};
    search.n_frequent = n_frequent;
    search.min_count = (uint32_t)(min_count < UINT32_MAX ? min_count : UINT32_MAX);
    search.max_len = max_len;
    uint32_t *items = NULL, *end = NULL, *roots = NULL;
    int64_t *root_start = NULL;
    PyObject *result = NULL;
    int failed = 0, bad_input = 0;

    Py_BEGIN_ALLOW_THREADS
    /* The table: each basket's frequent items, in rank order; baskets with fewer than two
     * frequent items give nothing and are left out. */
    items = malloc(((size_t)n_indices + 1) * sizeof(uint32_t));
    end = malloc(((size_t)n_indices + 1) * sizeof(uint32_t));
    root_start = calloc((size_t)n_frequent + 1, sizeof(int64_t));
    search.count = calloc((size_t)n_frequent + 1, sizeof(uint32_t));
    search.fill = calloc((size_t)n_frequent + 1, sizeof(uint32_t));
    search.step = calloc((size_t)n_frequent + 1, sizeof(uint32_t));
    search.mark = calloc((size_t)n_frequent + 1, sizeof(int32_t));
    if (!items || !end || !root_start || !search.count || !search.fill || !search.step ||
        !search.mark) {
        failed = 1;
    } else if (n_baskets < 0 || (uint64_t)n_indices >= UINT32_MAX) {
        bad_input = 1;
    }
    size_t size = 0;
    for (Py_ssize_t b = 0; !failed && !bad_input && b < n_baskets; b++) {
        int64_t from = indptr[b], to = indptr[b + 1];
        if (from < 0 || to < from || to > n_indices) {
            bad_input = 1;
            break;
        }
        size_t basket = size;
        for (int64_t j = from; j < to; j++) {
            int32_t code = indices[j];
            if (code < 0 || code >= n_codes) {
                bad_input = 1;
                break;
            }
            int32_t rank = rank_of[code];
            if (rank < 0) continue;
            if (rank >= n_frequent) {
                bad_input = 1;
                break;
            }
            /* Insertion into the sorted basket: baskets are short. */
            size_t q = size++;
            while (q > basket && items[q - 1] > (uint32_t)rank) {
                items[q] = items[q - 1];
                q--;
            }
            items[q] = (uint32_t)rank;
        }
        if (size - basket < 2) {
            size = basket;
            continue;
        }
        for (size_t q = basket; q < size; q++) {
            end[q] = (uint32_t)size;
            root_start[items[q] + 1]++;
        }
    }
    if (!failed && !bad_input) {
        for (Py_ssize_t r = 0; r < n_frequent; r++) root_start[r + 1] += root_start[r];
        roots = malloc((size + 1) * sizeof(uint32_t));
        if (roots == NULL) failed = 1;
    }
    if (!failed && !bad_input) {
        /* Every single item's occurrences, grouped by rank (a counting sort). */
        for (size_t q = 0; q < size; q++) roots[root_start[items[q]]++] = (uint32_t)q;
        for (Py_ssize_t r = n_frequent; r > 0; r--) root_start[r] = root_start[r - 1];
        root_start[0] = 0;
        search.items = items;
        search.end = end;
        for (Py_ssize_t r = 0; r < n_frequent && !failed; r++) {
            size_t n = (size_t)(root_start[r + 1] - root_start[r]);
            /* Slot 0 of the stack takes what is not kept; the item's occurrences follow it. */
            if (grow((void **)&search.stack, &search.stack_capacity, n + 1, sizeof(uint32_t))) {
                failed = 1;
                break;
            }
            memcpy(search.stack + 1, roots + root_start[r], n * sizeof(uint32_t));
            search.stack_size = n + 1;
            if (visit(&search, 1, r, 1, n, 0, 0)) failed = 1;
        }
    }
    Py_END_ALLOW_THREADS

    if (failed) {
        PyErr_NoMemory();
    } else if (bad_input) {
        PyErr_SetString(PyExc_ValueError, "the baskets are not a valid table of item codes");
    } else {
        result = PyList_New(search.n_levels);
        for (Py_ssize_t k = 0; result != NULL && k < search.n_levels; k++) {
            Level *level = &search.levels[k];
            PyObject *triple = Py_BuildValue("(NNN)", level_bytes(level->prefix, level->size),
                                             level_bytes(level->last, level->size),
                                             level_bytes(level->count, level->size));
            if (triple == NULL) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(result, k, triple);
        }
    }
    for (Py_ssize_t k = 0; k < search.n_levels; k++) {
        free(search.levels[k].prefix);
        free(search.levels[k].last);
        free(search.levels[k].count);
    }
    free(search.levels);
    free(search.stack);
    free(search.found);
    free(search.count);
    free(search.fill);
    free(search.step);
    free(search.mark);
    free(items);
    free(end);
    free(roots);
    free(root_start);
    PyBuffer_Release(&indptr_view);
    PyBuffer_Release(&indices_view);
    PyBuffer_Release(&rank_view);
    return result;
}

static PyMethodDef methods[] = {
    {"mine", mine, METH_VARARGS, mine_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fim", "Frequent itemsets by occurrence delivery, compiled.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__fim(void) { return PyModule_Create(&module); }
