/*
 * Frequent itemsets by occurrence delivery, depth first, then the itemset table and the rules:
 * the compiled kernel of patron.analytics._rule_tables (whose numpy path, _itemsets.py and
 * derive_rules, is the fall-back and the reference the tests hold this one to, bit for bit).
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
#include <math.h>
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

static void free_search(Search *search)
{
    for (Py_ssize_t k = 0; k < search->n_levels; k++) {
        free(search->levels[k].prefix);
        free(search->levels[k].last);
        free(search->levels[k].count);
    }
    free(search->levels);
    free(search->stack);
    free(search->found);
    free(search->count);
    free(search->fill);
    free(search->step);
    free(search->mark);
    memset(search, 0, sizeof(Search));
}

/* Run the search over the baskets (compressed sparse rows of item codes below n_codes; rank_of
 * gives each code's rank, -1 when infrequent), without the GIL. Returns 0, -1 when out of
 * memory, -2 when the table is not valid. The caller sets n_frequent, min_count and max_len. */
static int run_search(Search *search, const int64_t *indptr, Py_ssize_t n_baskets,
                      const int32_t *indices, Py_ssize_t n_indices, const int32_t *rank_of,
                      Py_ssize_t n_codes)
{
    Py_ssize_t n_frequent = search->n_frequent;
    uint32_t *items = NULL, *end = NULL, *roots = NULL;
    int64_t *root_start = NULL;
    int status = 0;
    /* The table: each basket's frequent items, in rank order; baskets with fewer than two
     * frequent items give nothing and are left out. */
    items = malloc(((size_t)n_indices + 1) * sizeof(uint32_t));
    end = malloc(((size_t)n_indices + 1) * sizeof(uint32_t));
    root_start = calloc((size_t)n_frequent + 1, sizeof(int64_t));
    search->count = calloc((size_t)n_frequent + 1, sizeof(uint32_t));
    search->fill = calloc((size_t)n_frequent + 1, sizeof(uint32_t));
    search->step = calloc((size_t)n_frequent + 1, sizeof(uint32_t));
    search->mark = calloc((size_t)n_frequent + 1, sizeof(int32_t));
    if (!items || !end || !root_start || !search->count || !search->fill || !search->step ||
        !search->mark) {
        status = -1;
        goto done;
    }
    if (n_baskets < 0 || (uint64_t)n_indices >= UINT32_MAX) {
        status = -2;
        goto done;
    }
    size_t size = 0;
    for (Py_ssize_t b = 0; b < n_baskets; b++) {
        int64_t from = indptr[b], to = indptr[b + 1];
        if (from < 0 || to < from || to > n_indices) {
            status = -2;
            goto done;
        }
        size_t basket = size;
        for (int64_t j = from; j < to; j++) {
            int32_t code = indices[j];
            if (code < 0 || code >= n_codes) {
                status = -2;
                goto done;
            }
            int32_t rank = rank_of[code];
            if (rank < 0) continue;
            if (rank >= n_frequent) {
                status = -2;
                goto done;
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
    for (Py_ssize_t r = 0; r < n_frequent; r++) root_start[r + 1] += root_start[r];
    roots = malloc((size + 1) * sizeof(uint32_t));
    if (roots == NULL) {
        status = -1;
        goto done;
    }
    /* Every single item's occurrences, grouped by rank (a counting sort). */
    for (size_t q = 0; q < size; q++) roots[root_start[items[q]]++] = (uint32_t)q;
    for (Py_ssize_t r = n_frequent; r > 0; r--) root_start[r] = root_start[r - 1];
    root_start[0] = 0;
    search->items = items;
    search->end = end;
    for (Py_ssize_t r = 0; r < n_frequent; r++) {
        size_t n = (size_t)(root_start[r + 1] - root_start[r]);
        /* Slot 0 of the stack takes what is not kept; the item's occurrences follow it. */
        if (grow((void **)&search->stack, &search->stack_capacity, n + 1, sizeof(uint32_t))) {
            status = -1;
            goto done;
        }
        memcpy(search->stack + 1, roots + root_start[r], n * sizeof(uint32_t));
        search->stack_size = n + 1;
        if (visit(search, 1, r, 1, n, 0, 0)) {
            status = -1;
            goto done;
        }
    }
done:
    search->items = NULL;
    search->end = NULL;
    free(items);
    free(end);
    free(roots);
    free(root_start);
    return status;
}

static PyObject *search_error(int status)
{
    if (status == -1) return PyErr_NoMemory();
    PyErr_SetString(PyExc_ValueError, "the baskets are not a valid table of item codes");
    return NULL;
}

/* ---- The itemset table and the rules ------------------------------------------------------ */

typedef int (*Compare)(const void *context, int64_t a, int64_t b);

/* A stable merge sort of order[0:n] (indices) by `compare`, bottom up. */
static int merge_sort(int64_t *order, size_t n, Compare compare, const void *context)
{
    if (n < 2) return 0;
    int64_t *scratch = malloc(n * sizeof(int64_t));
    if (scratch == NULL) return -1;
    int64_t *from = order, *to = scratch;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t low = 0; low < n; low += 2 * width) {
            size_t middle = low + width < n ? low + width : n;
            size_t high = low + 2 * width < n ? low + 2 * width : n;
            size_t i = low, j = middle, k = low;
            while (i < middle && j < high)
                to[k++] = compare(context, from[j], from[i]) < 0 ? from[j++] : from[i++];
            while (i < middle) to[k++] = from[i++];
            while (j < high) to[k++] = from[j++];
        }
        int64_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != order) memcpy(order, from, n * sizeof(int64_t));
    free(scratch);
    return 0;
}

typedef struct {
    const int64_t *count;
} ByCount;

static int by_count_ascending(const void *context, int64_t a, int64_t b)
{
    const int64_t *count = ((const ByCount *)context)->count;
    return (count[a] > count[b]) - (count[a] < count[b]);
}

typedef struct {
    const int32_t *codes; /* k per row, ascending */
    const int64_t *count;
    Py_ssize_t k;
} ByOutput;

/* Itemsets of one length as they are reported: higher count first, then by their codes. */
static int by_output(const void *context, int64_t a, int64_t b)
{
    const ByOutput *by = context;
    if (by->count[a] != by->count[b]) return by->count[a] > by->count[b] ? -1 : 1;
    const int32_t *x = by->codes + a * by->k, *y = by->codes + b * by->k;
    for (Py_ssize_t j = 0; j < by->k; j++)
        if (x[j] != y[j]) return x[j] < y[j] ? -1 : 1;
    return 0;
}

typedef struct {
    const double *lift;       /* per rule */
    const int64_t *antecedent; /* per rule: its row among the itemsets */
    const int64_t *count_ac;   /* per rule: baskets holding both sides */
    const int64_t *row_count;  /* per itemset row */
    double total;              /* baskets */
    const double *confidence;  /* per rule, when made ahead (else computed) */
} ByStrength;

/* A rule's confidence and support, computed as the rule table has them. */
static double rule_confidence(const ByStrength *by, int64_t i)
{
    double support_ac = (double)by->count_ac[i] / by->total;
    double support_a = (double)by->row_count[by->antecedent[i]] / by->total;
    return (support_ac * by->total) / (support_a * by->total);
}

/* Strongest rules first: by lift, then confidence, then support, all descending. */
static int by_strength(const void *context, int64_t a, int64_t b)
{
    const ByStrength *by = context;
    if (by->lift[a] != by->lift[b]) return by->lift[a] > by->lift[b] ? -1 : 1;
    double confidence_a = by->confidence ? by->confidence[a] : rule_confidence(by, a);
    double confidence_b = by->confidence ? by->confidence[b] : rule_confidence(by, b);
    if (confidence_a != confidence_b) return confidence_a > confidence_b ? -1 : 1;
    /* Supports are counts over one total: they order as the counts do (below 2**52). */
    if (by->count_ac[a] != by->count_ac[b]) return by->count_ac[a] > by->count_ac[b] ? -1 : 1;
    return 0;
}

/* Sort the rules strongest first, stably: a radix sort of the lifts (a byte at a time, the
 * bytes alike in every rule skipped; positive doubles order as their bit patterns do), then
 * each run of equal lifts by confidence and support (the runs are short: mostly the two
 * directions of one split). Small tables go through the merge sort. */
static int sort_by_strength(int64_t *order, size_t n, const ByStrength *by)
{
    if (n < 4096) return merge_sort(order, n, by_strength, by);
    uint64_t *keys = malloc(n * sizeof(uint64_t)), *keys_to = malloc(n * sizeof(uint64_t));
    int64_t *order_to = malloc(n * sizeof(int64_t));
    size_t(*counts)[256] = calloc(8, sizeof(*counts));
    int status = 0;
    if (!keys || !keys_to || !order_to || !counts) {
        status = -1;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &by->lift[order[i]], sizeof bits);
        keys[i] = ~bits; /* descending */
        for (int byte = 0; byte < 8; byte++) counts[byte][(keys[i] >> (8 * byte)) & 255]++;
    }
    int64_t *order_from = order;
    for (int byte = 0; byte < 8; byte++) {
        size_t *count = counts[byte];
        if (count[(keys[0] >> (8 * byte)) & 255] == n) continue; /* the same in every rule */
        size_t at = 0;
        for (int digit = 0; digit < 256; digit++) {
            size_t here = count[digit];
            count[digit] = at;
            at += here;
        }
        for (size_t i = 0; i < n; i++) {
            size_t to = count[(keys[i] >> (8 * byte)) & 255]++;
            keys_to[to] = keys[i];
            order_to[to] = order_from[i];
        }
        uint64_t *swap_keys = keys;
        keys = keys_to;
        keys_to = swap_keys;
        int64_t *swap_order = order_from;
        order_from = order_to;
        order_to = swap_order;
    }
    if (order_from != order) {
        memcpy(order, order_from, n * sizeof(int64_t));
        order_to = order_from;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && keys[j] == keys[i]) j++;
        if (j - i > 16) { /* a long run (many rules of one lift): merge sort it */
            if (merge_sort(order + i, j - i, by_strength, by)) {
                status = -1;
                goto done;
            }
            i = j;
            continue;
        }
        for (size_t q = i + 1; q < j; q++) { /* insertion: stable, the runs are short */
            int64_t moving = order[q];
            size_t p = q;
            while (p > i && by_strength(by, moving, order[p - 1]) < 0) {
                order[p] = order[p - 1];
                p--;
            }
            order[p] = moving;
        }
        i = j;
    }
done:
    free(keys);
    free(keys_to);
    free(order_to);
    free(counts);
    return status;
}

typedef struct {
    Py_ssize_t n;      /* itemsets of this length */
    int64_t *prefix;   /* borrowed from the search (NULL for single items) */
    int64_t *last;     /* idem */
    int64_t *count;    /* owned for single items, else borrowed */
    int32_t *ranks;    /* k ranks per itemset, ascending */
    int32_t *codes;    /* k codes per itemset, ascending, in output order */
    int64_t *counts;   /* counts in output order */
    int64_t *row_of;   /* id -> output row (over all lengths) */
    int64_t *children; /* for lengths >= 2: the ids with prefix p start at children[p] */
} Table;

typedef struct {
    int64_t *antecedent, *consequent, *count_ac; /* rows of the sides; baskets with both */
    double *lift;
    size_t size, capacity;
} Rules;

static int rules_add(Rules *rules, int64_t a, int64_t c, int64_t count_ac, double lift)
{
    if (rules->size == rules->capacity) {
        size_t capacity = rules->capacity ? 2 * rules->capacity : 4096;
        void *p;
        if (!(p = realloc(rules->antecedent, capacity * 8))) return -1;
        rules->antecedent = p;
        if (!(p = realloc(rules->consequent, capacity * 8))) return -1;
        rules->consequent = p;
        if (!(p = realloc(rules->count_ac, capacity * 8))) return -1;
        rules->count_ac = p;
        if (!(p = realloc(rules->lift, capacity * 8))) return -1;
        rules->lift = p;
        rules->capacity = capacity;
    }
    size_t i = rules->size++;
    rules->antecedent[i] = a;
    rules->consequent[i] = c;
    rules->count_ac[i] = count_ac;
    rules->lift[i] = lift;
    return 0;
}

/* Id of the itemset of `table` (length >= 2) made of itemset `prefix` and rank `last`, or -1. */
static int64_t find(const Table *table, int64_t prefix, int64_t last)
{
    /* The itemsets with this prefix are children[prefix] to children[prefix + 1], by last. */
    int64_t low = table->children[prefix], high = table->children[prefix + 1];
    while (low < high) {
        int64_t middle = low + (high - low) / 2;
        if (table->last[middle] < last)
            low = middle + 1;
        else
            high = middle;
    }
    if (low < table->children[prefix + 1] && table->last[low] == last) return low;
    return -1;
}

typedef struct {
    Search search;
    Py_ssize_t n_tables;
    Table *tables; /* tables[k - 1]: itemsets of length k */
    Rules rules;
    int64_t *order;     /* the rules, strongest first */
    int64_t *row_count; /* per itemset row, over all lengths */
    double total;       /* baskets */
} Mined;

static void free_mined(Mined *mined)
{
    for (Py_ssize_t k = 0; k < mined->n_tables; k++) {
        Table *table = &mined->tables[k];
        if (k == 0) {
            free(table->count);
            free(table->last);
        }
        free(table->ranks);
        free(table->codes);
        free(table->counts);
        free(table->row_of);
        free(table->children);
    }
    free(mined->tables);
    free(mined->rules.antecedent);
    free(mined->rules.consequent);
    free(mined->rules.count_ac);
    free(mined->rules.lift);
    free(mined->order);
    free(mined->row_count);
    free_search(&mined->search);
}

/* Everything, without the GIL: 0, -1 (memory), -2 (a bad table), -3 (a subset missing). */
static int mine_everything(Mined *mined, const int64_t *indptr, Py_ssize_t n_baskets,
                           const int32_t *indices, Py_ssize_t n_indices, Py_ssize_t n_items,
                           int64_t min_count, Py_ssize_t max_len, int want_rules,
                           double min_confidence, double min_lift)
{
    int status = 0;
    int64_t *item_count = calloc((size_t)n_items + 1, sizeof(int64_t));
    int64_t *item_of_rank = malloc(((size_t)n_items + 1) * sizeof(int64_t));
    int32_t *rank_of = malloc(((size_t)n_items + 1) * sizeof(int32_t));
    if (!item_count || !item_of_rank || !rank_of) {
        status = -1;
        goto done;
    }
    for (Py_ssize_t j = 0; j < n_indices; j++) {
        if (indices[j] < 0 || indices[j] >= n_items) {
            status = -2;
            goto done;
        }
        item_count[indices[j]]++;
    }
    /* Ranks: ascending count, ties by code (a stable sort of the codes in order). */
    Py_ssize_t n_frequent = 0;
    for (Py_ssize_t code = 0; code < n_items; code++) {
        rank_of[code] = -1;
        if (item_count[code] >= min_count) item_of_rank[n_frequent++] = code;
    }
    ByCount by_count = {item_count};
    if (merge_sort(item_of_rank, (size_t)n_frequent, by_count_ascending, &by_count)) {
        status = -1;
        goto done;
    }
    for (Py_ssize_t r = 0; r < n_frequent; r++) rank_of[item_of_rank[r]] = (int32_t)r;
    Search *search = &mined->search;
    search->n_frequent = n_frequent;
    search->min_count = (uint32_t)(min_count < UINT32_MAX ? min_count : UINT32_MAX);
    search->max_len = max_len;
    if (n_frequent >= 2 && max_len != 1) {
        status = run_search(search, indptr, n_baskets, indices, n_indices, rank_of, n_items);
        if (status) goto done;
    }
    /* The tables, one per length. */
    Py_ssize_t n_tables = 1 + search->n_levels;
    mined->tables = calloc((size_t)n_tables + 1, sizeof(Table));
    if (mined->tables == NULL) {
        status = -1;
        goto done;
    }
    mined->n_tables = n_tables;
    int64_t row = 0;
    for (Py_ssize_t k = 1; k <= n_tables; k++) {
        Table *table = &mined->tables[k - 1];
        if (k == 1) {
            table->n = n_frequent;
            table->count = malloc((size_t)n_frequent * sizeof(int64_t));
            table->last = malloc((size_t)n_frequent * sizeof(int64_t));
            if (!table->count || !table->last) {
                status = -1;
                goto done;
            }
            for (Py_ssize_t r = 0; r < n_frequent; r++) {
                table->count[r] = item_count[item_of_rank[r]];
                table->last[r] = r;
            }
        } else {
            Level *level = &search->levels[k - 2];
            table->n = level->size;
            table->prefix = level->prefix;
            table->last = level->last;
            table->count = level->count;
        }
        size_t n = (size_t)table->n;
        table->ranks = malloc((n * k + 1) * sizeof(int32_t));
        int32_t *codes = malloc((n * k + 1) * sizeof(int32_t));
        int64_t *order = malloc((n + 1) * sizeof(int64_t));
        table->codes = malloc((n * k + 1) * sizeof(int32_t));
        table->counts = malloc((n + 1) * sizeof(int64_t));
        table->row_of = malloc((n + 1) * sizeof(int64_t));
        if (!table->ranks || !codes || !order || !table->codes || !table->counts ||
            !table->row_of) {
            free(codes);
            free(order);
            status = -1;
            goto done;
        }
        const Table *shorter = k > 1 ? &mined->tables[k - 2] : NULL;
        if (k > 1) { /* ids are in (prefix, last) order: each prefix's ids are one run */
            table->children = calloc((size_t)shorter->n + 2, sizeof(int64_t));
            if (table->children == NULL) {
                free(codes);
                free(order);
                status = -1;
                goto done;
            }
            for (size_t i = 0; i < n; i++) table->children[table->prefix[i] + 1]++;
            for (Py_ssize_t p = 0; p < shorter->n; p++)
                table->children[p + 1] += table->children[p];
        }
        for (size_t i = 0; i < n; i++) {
            int32_t *ranks = table->ranks + i * k;
            if (k > 1) memcpy(ranks, shorter->ranks + table->prefix[i] * (k - 1), (k - 1) * 4);
            ranks[k - 1] = (int32_t)table->last[i];
            int32_t *row_codes = codes + i * k;
            for (Py_ssize_t j = 0; j < k; j++) {
                int32_t code = (int32_t)item_of_rank[ranks[j]];
                Py_ssize_t q = j;
                while (q > 0 && row_codes[q - 1] > code) {
                    row_codes[q] = row_codes[q - 1];
                    q--;
                }
                row_codes[q] = code;
            }
            order[i] = (int64_t)i;
        }
        ByOutput by_output_ = {codes, table->count, k};
        if (merge_sort(order, n, by_output, &by_output_)) {
            free(codes);
            free(order);
            status = -1;
            goto done;
        }
        for (size_t position = 0; position < n; position++) {
            int64_t id = order[position];
            table->row_of[id] = row + (int64_t)position;
            memcpy(table->codes + position * k, codes + id * k, k * sizeof(int32_t));
            table->counts[position] = table->count[id];
        }
        row += (int64_t)n;
        free(codes);
        free(order);
    }
    if (!want_rules) goto done;
    /* The rules, a split (bit mask over an itemset's items) at a time for each length. */
    const double total = (double)n_baskets;
    for (Py_ssize_t k = 2; k <= n_tables; k++) {
        const Table *table = &mined->tables[k - 1];
        size_t n = (size_t)table->n, full = ((size_t)1 << k) - 1;
        if (n == 0) continue;
        int64_t **subsets = calloc(full + 1, sizeof(int64_t *));
        if (subsets == NULL) {
            status = -1;
            goto done;
        }
        for (size_t mask = 1; mask < full && !status; mask++) {
            subsets[mask] = malloc(n * sizeof(int64_t));
            if (subsets[mask] == NULL) {
                status = -1;
                break;
            }
            int top = 63 - __builtin_clzll(mask);
            size_t rest = mask ^ ((size_t)1 << top);
            const Table *length = &mined->tables[__builtin_popcountll(mask) - 1];
            for (size_t i = 0; i < n; i++) {
                int64_t rank = table->ranks[i * k + top];
                if (rest == 0) {
                    subsets[mask][i] = rank;
                } else {
                    int64_t id = find(length, subsets[rest][i], rank);
                    if (id < 0) {
                        status = -3;
                        break;
                    }
                    subsets[mask][i] = id;
                }
            }
        }
        for (size_t mask = 1; mask < full && !status; mask++) {
            int left = __builtin_popcountll(mask);
            const Table *a_table = &mined->tables[left - 1];
            const Table *c_table = &mined->tables[k - left - 1];
            const int64_t *a_ids = subsets[mask], *c_ids = subsets[full ^ mask];
            for (size_t i = 0; i < n; i++) {
                double support_ac = (double)table->count[i] / total;
                double support_a = (double)a_table->count[a_ids[i]] / total;
                double support_c = (double)c_table->count[c_ids[i]] / total;
                /* mlxtend's expression (its null-value corrections are zero here). */
                double confidence = (support_ac * total) / (support_a * total);
                if (!(confidence >= min_confidence)) continue;
                if (min_lift >= 0 && !(confidence / support_c >= min_lift)) continue;
                if (rules_add(&mined->rules, a_table->row_of[a_ids[i]], c_table->row_of[c_ids[i]],
                              table->count[i], confidence / support_c)) {
                    status = -1;
                    break;
                }
            }
        }
        for (size_t mask = 1; mask < full; mask++) free(subsets[mask]);
        free(subsets);
        if (status) goto done;
    }
    /* Strongest first; full ties keep the order the rules were made in. */
    size_t n = mined->rules.size;
    mined->total = total;
    mined->order = malloc((n + 1) * sizeof(int64_t));
    mined->row_count = malloc(((size_t)row + 1) * sizeof(int64_t));
    if (!mined->order || !mined->row_count) {
        status = -1;
        goto done;
    }
    for (Py_ssize_t k = 1, at = 0; k <= n_tables; k++) {
        const Table *table = &mined->tables[k - 1];
        memcpy(mined->row_count + at, table->counts, (size_t)table->n * sizeof(int64_t));
        at += table->n;
    }
    for (size_t i = 0; i < n; i++) mined->order[i] = (int64_t)i;
    ByStrength by = {mined->rules.lift, mined->rules.antecedent, mined->rules.count_ac,
                     mined->row_count, total, NULL};
    double *confidence = malloc((n + 1) * sizeof(double));
    if (confidence == NULL) {
        status = -1;
        goto done;
    }
    for (size_t i = 0; i < n; i++) confidence[i] = rule_confidence(&by, (int64_t)i);
    by.confidence = confidence;
    status = sort_by_strength(mined->order, n, &by);
    free(confidence);
    if (status) goto done;
done:
    free(item_count);
    free(item_of_rank);
    free(rank_of);
    return status;
}

static PyObject *bytes_of(const void *data, size_t size)
{
    return PyByteArray_FromStringAndSize(data ? (const char *)data : "", (Py_ssize_t)size);
}

PyDoc_STRVAR(mine_rules_doc,
             "mine_rules(indptr, indices, n_items, min_count, max_len, rules, min_confidence,\n"
             "           min_lift[, metrics])\n--\n\n"
             "The frequent itemsets, and the rules when `rules` is true, as the library reports\n"
             "them, in bytearrays: a dict with 'codes' (per length, the itemsets' ascending item\n"
             "codes, int32, in output order), 'counts' (per length, int64), and 'antecedents',\n"
             "'consequents' (int64 rows of the itemsets over all lengths) and 'metrics' (float64,\n"
             "seven rows: antecedent support, consequent support, support, confidence, lift,\n"
             "leverage, conviction), strongest first. min_lift < 0: no lift threshold.\n"
             "With metrics false, 'metrics' is None and 'rule_counts' holds each rule's basket\n"
             "count (int64) instead, from which the caller makes the metrics (a ninth of the\n"
             "memory); otherwise 'rule_counts' is None.");

static PyObject *mine_rules(PyObject *self, PyObject *args)
{
    PyObject *indptr_obj, *indices_obj;
    Py_ssize_t n_items, max_len;
    long long min_count;
    int want_rules, want_metrics = 1;
    double min_confidence, min_lift;
    if (!PyArg_ParseTuple(args, "OOnLnpdd|p", &indptr_obj, &indices_obj, &n_items, &min_count,
                          &max_len, &want_rules, &min_confidence, &min_lift, &want_metrics))
        return NULL;
    if (min_count < 1 || n_items < 0 || max_len < 0) {
        PyErr_SetString(PyExc_ValueError, "min_count must be >= 1, n_items and max_len >= 0");
        return NULL;
    }
    Py_buffer indptr_view, indices_view;
    if (get_buffer(indptr_obj, &indptr_view, 8, "indptr") < 0) return NULL;
    if (get_buffer(indices_obj, &indices_view, 4, "indices") < 0) {
        PyBuffer_Release(&indptr_view);
        return NULL;
    }
    Mined mined;
    memset(&mined, 0, sizeof(mined));
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = mine_everything(&mined, indptr_view.buf, indptr_view.len / 8 - 1, indices_view.buf,
                             indices_view.len / 4, n_items, min_count, max_len, want_rules,
                             min_confidence, min_lift);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (status == -3) {
        PyErr_SetString(PyExc_RuntimeError, "a subset of a frequent itemset is missing");
    } else if (status) {
        search_error(status);
    } else {
        PyObject *codes = PyList_New(mined.n_tables), *counts = PyList_New(mined.n_tables);
        for (Py_ssize_t k = 1; codes && counts && k <= mined.n_tables; k++) {
            Table *table = &mined.tables[k - 1];
            PyList_SET_ITEM(codes, k - 1, bytes_of(table->codes, (size_t)table->n * k * 4));
            PyList_SET_ITEM(counts, k - 1, bytes_of(table->counts, (size_t)table->n * 8));
        }
        size_t n = mined.order ? mined.rules.size : 0;
        PyObject *antecedents = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
        PyObject *consequents = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
        PyObject *metrics_bytes = NULL, *rule_counts = NULL;
        if (want_metrics) {
            metrics_bytes = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(7 * n * 8));
            rule_counts = Py_NewRef(Py_None);
        } else { /* each rule's count only: a ninth of the room, the metrics made by the caller */
            rule_counts = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
            metrics_bytes = Py_NewRef(Py_None);
        }
        if (antecedents && consequents && rule_counts && metrics_bytes && n && !want_metrics) {
            int64_t *a_rows = (int64_t *)PyByteArray_AS_STRING(antecedents);
            int64_t *c_rows = (int64_t *)PyByteArray_AS_STRING(consequents);
            int64_t *counts_ac = (int64_t *)PyByteArray_AS_STRING(rule_counts);
            for (size_t j = 0; j < n; j++) {
                int64_t i = mined.order[j];
                a_rows[j] = mined.rules.antecedent[i];
                c_rows[j] = mined.rules.consequent[i];
                counts_ac[j] = mined.rules.count_ac[i];
            }
        } else if (antecedents && consequents && rule_counts && metrics_bytes && n) {
            /* The metrics, in the operations and order the numpy path uses (mlxtend's). */
            int64_t *a_rows = (int64_t *)PyByteArray_AS_STRING(antecedents);
            int64_t *c_rows = (int64_t *)PyByteArray_AS_STRING(consequents);
            double *metrics = (double *)PyByteArray_AS_STRING(metrics_bytes);
            const Rules *rules = &mined.rules;
            const double total = mined.total;
            for (size_t j = 0; j < n; j++) {
                int64_t i = mined.order[j];
                int64_t a = rules->antecedent[i], c = rules->consequent[i];
                double support_a = (double)mined.row_count[a] / total;
                double support_c = (double)mined.row_count[c] / total;
                double support_ac = (double)rules->count_ac[i] / total;
                double confidence = (support_ac * total) / (support_a * total);
                volatile double product = support_a * support_c; /* no fused multiply-add */
                a_rows[j] = a;
                c_rows[j] = c;
                metrics[j] = support_a;
                metrics[n + j] = support_c;
                metrics[2 * n + j] = support_ac;
                metrics[3 * n + j] = confidence;
                metrics[4 * n + j] = rules->lift[i];
                metrics[5 * n + j] = support_ac - product;
                metrics[6 * n + j] =
                    confidence < 1.0 ? (1.0 - support_c) / (1.0 - confidence) : HUGE_VAL;
            }
        }
        result = Py_BuildValue("{sNsNsNsNsNsNsn}", "codes", codes, "counts", counts,
                               "antecedents", antecedents, "consequents", consequents, "metrics",
                               metrics_bytes, "rule_counts", rule_counts, "n_frequent",
                               mined.search.n_frequent);
    }
    free_mined(&mined);
    PyBuffer_Release(&indptr_view);
    PyBuffer_Release(&indices_view);
    return result;
}

PyDoc_STRVAR(frozensets_doc,
             "frozensets(codes, labels)\n--\n\n"
             "One frozenset of labels per itemset: codes is a list of bytearrays of int32 item\n"
             "codes, the itemsets of length k + 1 in the k-th, k codes each; labels a list.");

static PyObject *frozensets(PyObject *self, PyObject *args)
{
    PyObject *blocks, *labels;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &blocks, &PyList_Type, &labels))
        return NULL;
    Py_ssize_t total = 0, n_labels = PyList_GET_SIZE(labels);
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(blocks); k++) {
        PyObject *block = PyList_GET_ITEM(blocks, k);
        if (!PyByteArray_Check(block)) {
            PyErr_SetString(PyExc_TypeError, "codes must be a list of bytearrays");
            return NULL;
        }
        total += PyByteArray_GET_SIZE(block) / 4 / (k + 1);
    }
    PyObject *result = PyList_New(total);
    if (result == NULL) return NULL;
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(blocks); k++) {
        PyObject *block = PyList_GET_ITEM(blocks, k);
        const int32_t *codes = (const int32_t *)PyByteArray_AS_STRING(block);
        Py_ssize_t n = PyByteArray_GET_SIZE(block) / 4 / (k + 1);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *set = PyFrozenSet_New(NULL);
            if (set == NULL) goto fail;
            PyList_SET_ITEM(result, at++, set);
            int cyclic = 0;
            for (Py_ssize_t j = 0; j <= k; j++) {
                int32_t code = codes[i * (k + 1) + j];
                if (code < 0 || code >= n_labels) {
                    PyErr_SetString(PyExc_IndexError, "an item code has no label");
                    goto fail;
                }
                PyObject *label = PyList_GET_ITEM(labels, code);
                cyclic |= PyObject_GC_IsTracked(label);
                if (PySet_Add(set, label) < 0) goto fail;
            }
            /* A frozenset of labels the collector does not track (strings, numbers) can be in
             * no reference cycle: untracked, as CPython leaves such tuples, it costs the
             * collector nothing (else 13,000 itemsets trigger it again and again). */
            if (!cyclic && PyObject_GC_IsTracked(set)) PyObject_GC_UnTrack(set);
        }
    }
    return result;
fail:
    /* The rest of the list is NULL: shrink it to what was made before freeing it. */
    Py_SET_SIZE(result, at);
    Py_DECREF(result);
    return NULL;
}

PyDoc_STRVAR(remap_doc,
             "remap(codes, code_of)\n--\n\n"
             "Replace each code c in the int32 buffer codes by code_of[c], in place.");

static PyObject *remap(PyObject *self, PyObject *args)
{
    PyObject *codes_obj, *code_of_obj;
    if (!PyArg_ParseTuple(args, "OO", &codes_obj, &code_of_obj)) return NULL;
    Py_buffer codes_view, code_of_view;
    if (PyObject_GetBuffer(codes_obj, &codes_view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS |
                                                       PyBUF_FORMAT) < 0)
        return NULL;
    if (codes_view.itemsize != 4) {
        PyBuffer_Release(&codes_view);
        PyErr_SetString(PyExc_TypeError, "codes must hold 4-byte integers");
        return NULL;
    }
    if (get_buffer(code_of_obj, &code_of_view, 4, "code_of") < 0) {
        PyBuffer_Release(&codes_view);
        return NULL;
    }
    int32_t *codes = codes_view.buf;
    const int32_t *code_of = code_of_view.buf;
    Py_ssize_t n = codes_view.len / 4, n_codes = code_of_view.len / 4, bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (codes[i] < 0 || codes[i] >= n_codes) {
            bad = 1;
            break;
        }
        codes[i] = code_of[codes[i]];
    }
    PyBuffer_Release(&codes_view);
    PyBuffer_Release(&code_of_view);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a code has no new code");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"mine_rules", mine_rules, METH_VARARGS, mine_rules_doc},
    {"frozensets", frozensets, METH_VARARGS, frozensets_doc},
    {"remap", remap, METH_VARARGS, remap_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fim", "Frequent itemsets by occurrence delivery, compiled.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fim(void) { return PyModule_Create(&module); }
