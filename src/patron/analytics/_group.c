/*
 * Grouping kernels for patron.analytics.rfm, compiled: the numpy and pandas code in rfm.py is
 * the fall-back and the reference the tests hold these to (the same codes, the same sums to the
 * bit).
 *
 * factorize_rows(data, width[, mask]): codes 0..k-1 for rows of ``width`` bytes, numbered in
 *   order of first appearance (as pandas.factorize numbers them), and the first row of each
 *   code. Each row is hashed (64 bits), the hashes are looked up in an open-addressing table
 *   (linear probing, prefetched a few rows ahead: the table is larger than the caches), then
 *   every row is compared byte for byte with the first row of its code, so the codes are exact;
 *   two different rows sharing a hash give None (the caller then factorises another way).
 *   ``mask`` is and-ed into every hash (tests use 0 to make every row collide).
 *
 * group_sums(codes, values, n_groups): per group, the sum of its values in row order with
 *   Kahan's compensation, step for step as pandas' groupby ``sum`` adds them (group_sum in
 *   pandas/_libs/groupby.pyx, including the compensation reset when it turns NaN at an
 *   infinity), so the totals equal pandas' to the bit. Codes must lie in 0..n_groups-1.
 *
 * Only additions and subtractions of doubles are involved in the sums: no contraction into
 * fused multiply-adds can change them, and the build uses no fast-math options.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AHEAD 16 /* rows looked ahead for prefetching */

typedef struct {
    uint64_t hash;
    int64_t code; /* -1: empty */
} Slot;

static inline uint64_t hash_row(const uint8_t *row, Py_ssize_t width)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL, word;
    Py_ssize_t at = 0;
    for (; at + 8 <= width; at += 8) {
        memcpy(&word, row + at, 8);
        h = (h ^ word) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    if (at < width) {
        word = 0;
        memcpy(&word, row + at, (size_t)(width - at));
        h = (h ^ word) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

static Slot *empty_table(size_t capacity)
{
    Slot *table = malloc(sizeof(Slot) * capacity);
    if (table != NULL)
        for (size_t i = 0; i < capacity; i++) table[i].code = -1;
    return table;
}

/* Codes in order of first appearance; returns 0, -1 when out of memory. */
static int code_hashes(const uint64_t *hashes, Py_ssize_t n, int64_t *codes, int64_t *first,
                       int64_t *n_codes)
{
    size_t capacity = 2048, mask = capacity - 1;
    Slot *table = empty_table(capacity);
    int64_t k = 0;
    if (table == NULL) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((size_t)(k + 1) * 2 > capacity) { /* keep the table at most half full */
            size_t wider = capacity * 2;
            Slot *grown = empty_table(wider);
            if (grown == NULL) {
                free(table);
                return -1;
            }
            for (size_t j = 0; j < capacity; j++) {
                if (table[j].code < 0) continue;
                size_t s = table[j].hash & (wider - 1);
                while (grown[s].code >= 0) s = (s + 1) & (wider - 1);
                grown[s] = table[j];
            }
            free(table);
            table = grown;
            capacity = wider;
            mask = capacity - 1;
        }
        if (i + AHEAD < n) __builtin_prefetch(&table[hashes[i + AHEAD] & mask]);
        uint64_t h = hashes[i];
        size_t s = h & mask;
        for (;;) {
            if (table[s].code < 0) {
                table[s].hash = h;
                table[s].code = k;
                first[k] = i;
                codes[i] = k++;
                break;
            }
            if (table[s].hash == h) {
                codes[i] = table[s].code;
                break;
            }
            s = (s + 1) & mask;
        }
    }
    free(table);
    *n_codes = k;
    return 0;
}

static PyObject *factorize_rows(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t width;
    unsigned long long hash_mask = ~0ULL;
    if (!PyArg_ParseTuple(args, "y*n|K", &data, &width, &hash_mask)) return NULL;
    if (width <= 0 || data.len % width != 0) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "the data must hold whole rows of width > 0 bytes");
        return NULL;
    }
    Py_ssize_t n = data.len / width;
    const uint8_t *rows = data.buf;
    PyObject *codes_bytes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    int64_t *first = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    uint64_t *hashes = malloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
    if (codes_bytes == NULL || first == NULL || hashes == NULL) {
        Py_XDECREF(codes_bytes);
        free(first);
        free(hashes);
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    int64_t *codes = (int64_t *)PyBytes_AS_STRING(codes_bytes);
    int64_t k = 0;
    int status, alike = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) hashes[i] = hash_row(rows + i * width, width) & hash_mask;
    status = code_hashes(hashes, n, codes, first, &k);
    /* Every row against the first row of its code: equal hashes of different rows show here. */
    for (Py_ssize_t i = 0; status == 0 && alike && i < n; i++) {
        if (i + AHEAD < n) __builtin_prefetch(rows + first[codes[i + AHEAD]] * width);
        int64_t at = first[codes[i]];
        if (at != i && memcmp(rows + at * width, rows + i * width, (size_t)width) != 0) alike = 0;
    }
    Py_END_ALLOW_THREADS
    free(hashes);
    PyBuffer_Release(&data);
    if (status != 0 || !alike) {
        free(first);
        Py_DECREF(codes_bytes);
        if (status != 0) return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    PyObject *first_bytes = PyBytes_FromStringAndSize((const char *)first,
                                                      (Py_ssize_t)(k * (int64_t)sizeof(int64_t)));
    free(first);
    if (first_bytes == NULL) {
        Py_DECREF(codes_bytes);
        return NULL;
    }
    return Py_BuildValue("NN", codes_bytes, first_bytes);
}

static PyObject *group_sums(PyObject *self, PyObject *args)
{
    Py_buffer codes_buffer, values_buffer;
    Py_ssize_t n_groups;
    if (!PyArg_ParseTuple(args, "y*y*n", &codes_buffer, &values_buffer, &n_groups)) return NULL;
    Py_ssize_t n = codes_buffer.len / (Py_ssize_t)sizeof(int64_t);
    PyObject *result = NULL;
    double *compensation = NULL;
    if (codes_buffer.len != n * (Py_ssize_t)sizeof(int64_t) ||
        values_buffer.len != n * (Py_ssize_t)sizeof(double) || n_groups < 0) {
        PyErr_SetString(PyExc_ValueError, "codes (int64) and values (float64) must pair up");
        goto done;
    }
    const int64_t *codes = codes_buffer.buf;
    const double *values = values_buffer.buf;
    result = PyBytes_FromStringAndSize(NULL, n_groups * (Py_ssize_t)sizeof(double));
    compensation = calloc((size_t)(n_groups ? n_groups : 1), sizeof(double));
    if (result == NULL || compensation == NULL) {
        Py_CLEAR(result);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    double *sums = (double *)PyBytes_AS_STRING(result);
    memset(sums, 0, sizeof(double) * (size_t)n_groups);
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t g = codes[i];
        if (g < 0 || g >= n_groups) {
            bad = 1;
            break;
        }
        double value = values[i];
        if (value != value) continue; /* NaN: skipped, as pandas skips it */
        double y = value - compensation[g];
        double t = sums[g] + y;
        compensation[g] = t - sums[g] - y;
        if (compensation[g] != compensation[g]) compensation[g] = 0.0;
        sums[g] = t;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_ValueError, "a code lies outside 0..n_groups-1");
    }
done:
    free(compensation);
    PyBuffer_Release(&codes_buffer);
    PyBuffer_Release(&values_buffer);
    return result;
}

static PyMethodDef methods[] = {
    {"factorize_rows", factorize_rows, METH_VARARGS,
     "factorize_rows(data, width[, mask]) -> (codes, first) as int64 bytes, or None."},
    {"group_sums", group_sums, METH_VARARGS,
     "group_sums(codes, values, n_groups) -> float64 bytes: pandas' compensated sums."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_group", "Grouping kernels for RFM, compiled.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__group(void)
{
    return PyModule_Create(&module);
}
