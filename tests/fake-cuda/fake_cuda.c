/*
 * A stand-in for libcuda.so.1 and libcublas.so with scripted behaviour, so the Sac.Cuda binding can be tested on
 * machines without a GPU. It exports the driver and cuBLAS entry points the binding resolves, under the same names
 * and C signatures, and behaves like a one-context driver whose "device memory" is host memory:
 *
 *   - cuMemAlloc_v2 hands out malloc'd blocks, so copies round-trip; every copy, fill, kernel and GEMM checks that
 *     the range it touches lies inside a live block (CUDA_ERROR_INVALID_VALUE / ILLEGAL_ADDRESS otherwise), and
 *     cuMemFree_v2 of an unknown pointer fails, so double frees and bad offsets are caught.
 *   - Calls that need a context fail with CUDA_ERROR_INVALID_CONTEXT unless a retained primary context is current;
 *     releasing the last retain frees the context's memory, as the real driver does.
 *   - cuModuleGetFunction finds ".entry NAME(" in the PTX text. cuLaunchKernel records the launch and runs two
 *     kernels on the host: saxpy(float* y, const float* x, float a, int n): y[i] += a x[i] for every thread i < n;
 *     scalars(double d, long long l, unsigned u): stores its arguments (read back with fake_scalars).
 *     Every launch is also logged with its kernel name and argument values, read at the widths the PTX declares
 *     (fake_launch_log).
 *   - cublasSgemm_v2 / cublasGemmEx compute a column-major SGEMM on the host (double accumulation), after the
 *     argument checks cuBLAS documents, and record their arguments (fake_last_gemm).
 *   - Stream ordering: everything runs at once on the host, but the fake keeps track of which stream each
 *     operation was enqueued on and which work is still unfinished as a real device would see it. A
 *     CU_STREAM_NON_BLOCKING stream and the legacy default stream (a null handle) never wait for each other, so an
 *     operation on one of them while the other has unfinished work is an ordering hazard: counted (fake_hazards,
 *     fake_last_hazard). Work finishes at cuStreamSynchronize, cuCtxSynchronize, cuEventSynchronize (up to the
 *     record) and, for the legacy stream, at a synchronous device-to-host copy.
 *   - Page-locked host memory (cuMemAllocHost_v2 / cuMemFreeHost) is tracked, and each asynchronous upload from it
 *     keeps a snapshot of the bytes it read. The device reads pinned memory when the copy runs, not when it is
 *     enqueued, so when the fake learns that such a copy has finished (a synchronisation) it compares the memory with
 *     the snapshot: bytes rewritten meanwhile were rewritten while the copy was pending, a staging hazard
 *     (fake_staging_hazards, fake_last_staging_hazard); so is freeing the memory while a copy from it is pending.
 *   - Stream capture and graphs (cuStreamBeginCapture_v2, cuStreamEndCapture, cuGraphInstantiateWithFlags,
 *     cuGraphExecUpdate_v2, cuGraphLaunch, cuGraphDestroy, cuGraphExecDestroy; all omitted with -DFAKE_NO_GRAPHS).
 *     Work enqueued on a capturing stream still runs at once on the host, but counts as a node of the capture, not as
 *     unfinished work; a graph's shape is its node count and the sequence of calls (and kernel names) captured, and
 *     cuGraphExecUpdate_v2 refuses a graph of another shape with CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE. A launched graph
 *     counts as one unit of work on its stream and does not run its nodes again. While a capture is in progress, what
 *     thread-local capture mode forbids is refused with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidates the
 *     capture (cuStreamEndCapture then answers CUDA_ERROR_STREAM_CAPTURE_INVALIDATED): context-wide and capturing-stream
 *     waits, allocations and frees, anything on the legacy default stream, and copies between a capturing stream and
 *     pageable host memory (fake_capture_refusals).
 *   - cuModuleLoadDataEx fills the JIT error and info log buffers it is given. A PTX image holding the line
 *     "// FAKE_JIT_ERROR: text" is rejected with CUDA_ERROR_INVALID_PTX and an error log naming that line.
 *   - Every entry point counts its calls (fake_calls) and is logged in call order (fake_call_log).
 *
 * Scripting, read at the first call and at fake_reset(): FAKE_CUDA_FAIL="symbol:code[,symbol:code...]" makes those
 * entry points return that code; FAKE_CUDA_DEVICES=n sets the device count (default 1). Tests use the control
 * exports (fake_reset, fake_fail, fake_clear_fails, fake_set_devices, ...) instead, since a managed runtime's
 * environment changes do not reach getenv. Built with -DFAKE_NO_STATUS_TEXT it omits cublasGetStatusName/String.
 *
 * Build: clang-14 -shared -fPIC -O1 -o libfakecuda.so fake_cuda.c   (or gcc)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
    OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, NO_DEVICE = 100, INVALID_DEVICE = 101,
    INVALID_IMAGE = 200, INVALID_CONTEXT = 201, INVALID_PTX = 218, INVALID_HANDLE = 400, ILLEGAL_STATE = 401,
    NOT_FOUND = 500, ILLEGAL_ADDRESS = 700, CAPTURE_UNSUPPORTED = 900, CAPTURE_INVALIDATED = 901,
    GRAPH_EXEC_UPDATE_FAILURE = 910
};
enum { BLAS_OK = 0, BLAS_NOT_INITIALIZED = 1, BLAS_INVALID_VALUE = 7, BLAS_EXECUTION_FAILED = 13, BLAS_NOT_SUPPORTED = 15 };

/* ---------------------------------------------------------------- scripted failures */

#define MAX_FAILS 32
static struct { char symbol[64]; int code; } fails[MAX_FAILS];
static int fail_count;
static int device_count = 1;
static int env_read;

static void add_fail(const char *symbol, size_t len, int code) {
    if (fail_count == MAX_FAILS || len == 0 || len >= sizeof fails[0].symbol) return;
    memcpy(fails[fail_count].symbol, symbol, len);
    fails[fail_count].symbol[len] = 0;
    fails[fail_count].code = code;
    fail_count++;
}

static void read_env(void) {
    env_read = 1;
    const char *devices = getenv("FAKE_CUDA_DEVICES");
    if (devices) device_count = atoi(devices);
    const char *spec = getenv("FAKE_CUDA_FAIL");
    while (spec && *spec) {
        const char *end = strchr(spec, ',');
        size_t len = end ? (size_t)(end - spec) : strlen(spec);
        const char *colon = memchr(spec, ':', len);
        if (colon) add_fail(spec, (size_t)(colon - spec), atoi(colon + 1));
        spec = end ? end + 1 : NULL;
    }
}

static int scripted(const char *symbol) {
    if (!env_read) read_env();
    for (int i = 0; i < fail_count; i++)
        if (strcmp(fails[i].symbol, symbol) == 0) return fails[i].code;
    return 0;
}

/* Calls per entry point since the last reset (fake_calls). */
#define MAX_COUNTED 96
static struct { const char *symbol; int calls; } counted[MAX_COUNTED];

/* The entry points called, in order (a ring of the last CALL_LOG; fake_call_log). */
#define CALL_LOG 4096
static const char *call_log[CALL_LOG];
static int calls_logged;

static void count_call(const char *symbol) {
    call_log[calls_logged++ % CALL_LOG] = symbol;
    for (int i = 0; i < MAX_COUNTED; i++) {
        if (counted[i].symbol == symbol || (counted[i].symbol && strcmp(counted[i].symbol, symbol) == 0)) { counted[i].calls++; return; }
        if (!counted[i].symbol) { counted[i].symbol = symbol; counted[i].calls = 1; return; }
    }
}

#define ENTER() do { count_call(__func__); int scripted_code = scripted(__func__); if (scripted_code) return scripted_code; } while (0)

/* ---------------------------------------------------------------- object registries */

enum { K_STREAM, K_EVENT, K_MODULE, K_FUNCTION, K_CUBLAS, K_GRAPH, K_EXEC, K_KINDS };
#define MAX_OBJECTS 1024
static void *objects[K_KINDS][MAX_OBJECTS];

static void reg_add(int kind, void *p) {
    for (int i = 0; i < MAX_OBJECTS; i++)
        if (!objects[kind][i]) { objects[kind][i] = p; return; }
}
static int reg_has(int kind, void *p) {
    if (!p) return 0;
    for (int i = 0; i < MAX_OBJECTS; i++)
        if (objects[kind][i] == p) return 1;
    return 0;
}
static int reg_remove(int kind, void *p) {
    if (!p) return 0;
    for (int i = 0; i < MAX_OBJECTS; i++)
        if (objects[kind][i] == p) { objects[kind][i] = NULL; return 1; }
    return 0;
}
static int reg_count(int kind) {
    int n = 0;
    for (int i = 0; i < MAX_OBJECTS; i++) n += objects[kind][i] != NULL;
    return n;
}

/* ---------------------------------------------------------------- stream ordering */

/* Per stream (by its slot in objects[K_STREAM]; the legacy default stream is LEGACY): operations enqueued so far,
   how many of them are known finished, and whether the stream is CU_STREAM_NON_BLOCKING. */
#define LEGACY MAX_OBJECTS
static unsigned long long enqueued[MAX_OBJECTS + 1], finished[MAX_OBJECTS + 1];
static int non_blocking[MAX_OBJECTS + 1];
static int hazards;
static char last_hazard[160];

static int stream_slot(void *stream) {
    if (!stream) return LEGACY;
    for (int i = 0; i < MAX_OBJECTS; i++)
        if (objects[K_STREAM][i] == stream) return i;
    return -1;
}

static int pending(int slot) { return enqueued[slot] > finished[slot]; }

/* Stream capture, per stream slot: capturing, invalidated by a refused call, nodes so far and the shape's hash. */
static int capturing[MAX_OBJECTS + 1], capture_invalid[MAX_OBJECTS + 1], capture_nodes[MAX_OBJECTS + 1];
static unsigned long long capture_shape[MAX_OBJECTS + 1];
static int capture_refusals, captures_begun, graph_launches, last_capture_nodes;

static unsigned long long mix(unsigned long long h, const char *text) {
    while (*text) h = (h ^ (unsigned char)*text++) * 1099511628211ULL;
    return h * 31 + 7;
}

static int any_capture(void) {
    for (int i = 0; i <= MAX_OBJECTS; i++)
        if (capturing[i]) return 1;
    return 0;
}

/* A call thread-local capture mode forbids while a capture is in progress: refused, and the captures invalidated. */
static CUresult refuse_if_capturing(void) {
    if (!any_capture()) return OK;
    for (int i = 0; i <= MAX_OBJECTS; i++)
        if (capturing[i]) capture_invalid[i] = 1;
    capture_refusals++;
    return CAPTURE_UNSUPPORTED;
}

/* Work on `stream`: on the legacy stream, forbidden during a capture. */
static CUresult capture_gate(void *stream) { return stream ? OK : refuse_if_capturing(); }

/* A copy between the capturing `stream` and pageable host memory: refused, the capture invalidated. */
static int pinned_range(const void *p, size_t bytes);
static CUresult capture_gate_host(void *stream, const void *host, size_t bytes) {
    CUresult r = capture_gate(stream);
    if (r) return r;
    int slot = stream ? stream_slot(stream) : -1;
    if (slot >= 0 && capturing[slot] && !pinned_range(host, bytes)) {
        capture_invalid[slot] = 1;
        capture_refusals++;
        return CAPTURE_UNSUPPORTED;
    }
    return OK;
}

/* An operation reaches `stream`: a hazard when the streams it does not wait for have unfinished work. With
   `work`, the operation itself is unfinished work on the stream until a synchronisation says otherwise. */
static void enqueue(const char *call, void *stream, int work) {
    int slot = stream_slot(stream);
    if (slot < 0) return;
    if (capturing[slot]) {
        /* Captured, not run (as the device sees it): a node of the graph. */
        capture_nodes[slot]++;
        capture_shape[slot] = mix(capture_shape[slot], call);
        return;
    }
    const char *waiting = NULL;
    if (slot == LEGACY) {
        for (int i = 0; i < MAX_OBJECTS && !waiting; i++)
            if (objects[K_STREAM][i] && non_blocking[i] && pending(i)) waiting = "a non-blocking stream";
    } else if (non_blocking[slot] && pending(LEGACY)) {
        waiting = "the legacy default stream";
    }
    if (waiting) {
        hazards++;
        snprintf(last_hazard, sizeof last_hazard, "%s on %s while %s has unfinished work", call,
                 slot == LEGACY ? "the legacy default stream" : "a non-blocking stream", waiting);
    }
    if (work) enqueued[slot]++;
}

/* Asynchronous uploads from pinned memory whose completion the fake has not yet seen, each with the bytes it read. */
#define MAX_PENDING 1024
static struct { const char *source; size_t bytes; int slot; unsigned long long seq; char *snapshot; } pending_copies[MAX_PENDING];
static int staging_hazards;
static char last_staging_hazard[200];

static void staging_hazard(const char *what, size_t offset, size_t bytes) {
    staging_hazards++;
    snprintf(last_staging_hazard, sizeof last_staging_hazard, "%s: %zu bytes at offset %zu of its pinned block", what, bytes, offset);
}

static size_t pinned_offset(const void *p);

/* The copies known finished: their source must still hold what they read. */
static void check_pinned_copies(void) {
    for (int i = 0; i < MAX_PENDING; i++) {
        if (!pending_copies[i].snapshot || finished[pending_copies[i].slot] < pending_copies[i].seq) continue;
        if (memcmp(pending_copies[i].snapshot, pending_copies[i].source, pending_copies[i].bytes) != 0)
            staging_hazard("pinned memory rewritten while a copy from it was pending", pinned_offset(pending_copies[i].source), pending_copies[i].bytes);
        free(pending_copies[i].snapshot);
        pending_copies[i].snapshot = NULL;
    }
}

static void finish(void *stream) {
    int slot = stream_slot(stream);
    if (slot >= 0) finished[slot] = enqueued[slot];
    check_pinned_copies();
}

static void finish_all(void) {
    for (int i = 0; i <= MAX_OBJECTS; i++) finished[i] = enqueued[i];
    check_pinned_copies();
}

#define MAX_ALLOCS 4096
static struct { char *base; size_t bytes; int device; } allocs[MAX_ALLOCS];

#define MAX_PINNED 256
static struct { char *base; size_t bytes; } pinned[MAX_PINNED];

/* The live pinned block holding [p, p + bytes), or -1. */
static int find_pinned(const void *p, size_t bytes) {
    for (int i = 0; i < MAX_PINNED; i++) {
        if (!pinned[i].base) continue;
        uintptr_t lo = (uintptr_t)pinned[i].base, hi = lo + pinned[i].bytes, q = (uintptr_t)p;
        if (q >= lo && q <= hi && bytes <= hi - q) return i;
    }
    return -1;
}
static int pinned_range(const void *p, size_t bytes) { return find_pinned(p, bytes) >= 0; }
static size_t pinned_offset(const void *p) {
    int i = find_pinned(p, 0);
    return i < 0 ? 0 : (size_t)((const char *)p - pinned[i].base);
}

/* The live block holding [p, p + bytes), or -1. An empty range only needs p inside (or at the end of) a block. */
static int find_alloc(CUdeviceptr p, size_t bytes) {
    for (int i = 0; i < MAX_ALLOCS; i++) {
        if (!allocs[i].base) continue;
        uintptr_t lo = (uintptr_t)allocs[i].base, hi = lo + allocs[i].bytes;
        if (p >= lo && p <= hi && bytes <= hi - p) return i;
    }
    return -1;
}

/* ---------------------------------------------------------------- driver state */

#define MAX_DEVICES 8
static int initialized;
static int primary_refs[MAX_DEVICES];
static int context_tokens[MAX_DEVICES];     /* a context handle is the address of its device's token */
static int *current;

typedef struct { char *image; } module_t;
#define MAX_PARAMS 32
typedef struct { module_t *module; char name[64]; int nparams; int sizes[MAX_PARAMS]; } function_t;
typedef struct { double ms; int recorded; void *stream; unsigned long long upto; } event_t;
typedef struct { void *stream; } cublas_t;

static int launches;
static unsigned last_launch[8];             /* grid xyz, block xyz, shared bytes, argument-less flag */
static unsigned long long last_stream;
static double scalar_d; static long long scalar_l; static unsigned scalar_u;
static int gemm_calls;
static int last_gemm[10];

/* The last LOG_SIZE launches: kernel name, grid/block/shared, stream and each argument's value (zero-extended to
   64 bits, read with the size the PTX declares for that parameter). */
#define LOG_SIZE 64
static struct { char name[64]; unsigned dims[7]; unsigned long long stream; int nargs; unsigned long long args[MAX_PARAMS]; } launch_log[LOG_SIZE];

static int ctx_device(int *ctx) { return (int)(ctx - context_tokens); }

static CUresult need_context(void) {
    if (!initialized) return NOT_INITIALIZED;
    if (!current || primary_refs[ctx_device(current)] == 0) return INVALID_CONTEXT;
    return OK;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------- control exports for tests */

EXPORT void fake_reset(void) {
    for (int i = 0; i < MAX_ALLOCS; i++) { free(allocs[i].base); allocs[i].base = NULL; }
    for (int k = 0; k < K_KINDS; k++)
        for (int i = 0; i < MAX_OBJECTS; i++) objects[k][i] = NULL;   /* leaked on purpose: a test process is short */
    memset(primary_refs, 0, sizeof primary_refs);
    current = NULL;
    initialized = 0;
    fail_count = 0;
    device_count = 1;
    launches = 0;
    gemm_calls = 0;
    memset(last_launch, 0, sizeof last_launch);
    memset(last_gemm, 0, sizeof last_gemm);
    memset(enqueued, 0, sizeof enqueued);
    memset(finished, 0, sizeof finished);
    memset(non_blocking, 0, sizeof non_blocking);
    hazards = 0;
    last_hazard[0] = 0;
    memset(capturing, 0, sizeof capturing);
    memset(capture_invalid, 0, sizeof capture_invalid);
    memset(capture_nodes, 0, sizeof capture_nodes);
    capture_refusals = captures_begun = graph_launches = last_capture_nodes = 0;
    for (int i = 0; i < MAX_PINNED; i++) { free(pinned[i].base); pinned[i].base = NULL; }
    for (int i = 0; i < MAX_PENDING; i++) { free(pending_copies[i].snapshot); pending_copies[i].snapshot = NULL; }
    staging_hazards = 0;
    last_staging_hazard[0] = 0;
    memset(counted, 0, sizeof counted);
    calls_logged = 0;
    read_env();
}

EXPORT void fake_fail(const char *symbol, int code) { add_fail(symbol, strlen(symbol), code); }
EXPORT void fake_clear_fails(void) { fail_count = 0; }
EXPORT void fake_set_devices(int n) { device_count = n; }
EXPORT int fake_primary_refs(int device) { return device >= 0 && device < MAX_DEVICES ? primary_refs[device] : -1; }

/* Live objects of one kind: "allocations", "streams", "events", "modules", "cublas", "pinned", "graphs", "graph_execs". */
EXPORT int fake_live(const char *kind) {
    if (strcmp(kind, "allocations") == 0) {
        int n = 0;
        for (int i = 0; i < MAX_ALLOCS; i++) n += allocs[i].base != NULL;
        return n;
    }
    if (strcmp(kind, "streams") == 0) return reg_count(K_STREAM);
    if (strcmp(kind, "events") == 0) return reg_count(K_EVENT);
    if (strcmp(kind, "modules") == 0) return reg_count(K_MODULE);
    if (strcmp(kind, "cublas") == 0) return reg_count(K_CUBLAS);
    if (strcmp(kind, "graphs") == 0) return reg_count(K_GRAPH);
    if (strcmp(kind, "graph_execs") == 0) return reg_count(K_EXEC);
    if (strcmp(kind, "pinned") == 0) {
        int n = 0;
        for (int i = 0; i < MAX_PINNED; i++) n += pinned[i].base != NULL;
        return n;
    }
    return -1;
}

EXPORT int fake_launches(void) { return launches; }
/* out[0..6]: grid x y z, block x y z, shared bytes; returns the stream handle. */
EXPORT unsigned long long fake_last_launch(unsigned *out) {
    memcpy(out, last_launch, 7 * sizeof(unsigned));
    return last_stream;
}
/* Launch number `index` since the last reset (0-based; only the last 64 are kept): copies the kernel name (NUL-terminated,
   at most cap bytes), grid xyz, block xyz, shared bytes and the argument values; returns the argument count, or -1 when
   that launch is not in the log. */
EXPORT int fake_launch_log(int index, char *name, int cap, unsigned *dims, unsigned long long *args) {
    if (index < 0 || index >= launches || index < launches - LOG_SIZE || cap <= 0) return -1;
    int slot = index % LOG_SIZE;
    snprintf(name, (size_t)cap, "%s", launch_log[slot].name);
    memcpy(dims, launch_log[slot].dims, sizeof launch_log[slot].dims);
    memcpy(args, launch_log[slot].args, (size_t)launch_log[slot].nargs * sizeof args[0]);
    return launch_log[slot].nargs;
}
/* Calls of one entry point since the last reset (scripted failures included). */
EXPORT int fake_calls(const char *symbol) {
    for (int i = 0; i < MAX_COUNTED && counted[i].symbol; i++)
        if (strcmp(counted[i].symbol, symbol) == 0) return counted[i].calls;
    return 0;
}
/* Call number `index` since the last reset (0-based; the last 4096 are kept): copies the entry point's name
   (NUL-terminated, at most cap bytes) and returns its length, or -1 when that call is not in the log. */
EXPORT int fake_call_log(int index, char *name, int cap) {
    if (index < 0 || index >= calls_logged || index < calls_logged - CALL_LOG || cap <= 0) return -1;
    snprintf(name, (size_t)cap, "%s", call_log[index % CALL_LOG]);
    return (int)strlen(name);
}
/* Ordering hazards since the last reset (see the top of this file), and a description of the last one ("" if none). */
EXPORT int fake_hazards(void) { return hazards; }
EXPORT const char *fake_last_hazard(void) { return last_hazard; }
/* Pinned memory rewritten or freed while a copy from it was pending, since the last reset, and the last one described. */
EXPORT int fake_staging_hazards(void) { return staging_hazards; }
EXPORT const char *fake_last_staging_hazard(void) { return last_staging_hazard; }
/* Calls refused because a capture was in progress; captures begun; graph launches; nodes of the last ended capture. */
EXPORT int fake_capture_refusals(void) { return capture_refusals; }
EXPORT int fake_captures(void) { return captures_begun; }
EXPORT int fake_graph_launches(void) { return graph_launches; }
EXPORT int fake_last_capture_nodes(void) { return last_capture_nodes; }
EXPORT void fake_scalars(double *d, long long *l, unsigned *u) { *d = scalar_d; *l = scalar_l; *u = scalar_u; }
EXPORT int fake_gemm_calls(void) { return gemm_calls; }
/* out[0..9]: transa, transb, m, n, k, lda, ldb, ldc, compute type (0 for cublasSgemm_v2), stream set (0/1). */
EXPORT void fake_last_gemm(int *out) { memcpy(out, last_gemm, sizeof last_gemm); }

/* ---------------------------------------------------------------- errors */

static const struct { int code; const char *name, *text; } errors[] = {
    { 0, "CUDA_SUCCESS", "no error" },
    { 1, "CUDA_ERROR_INVALID_VALUE", "invalid argument" },
    { 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory" },
    { 3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error" },
    { 100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected" },
    { 101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal" },
    { 200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid" },
    { 201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context" },
    { 218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed" },
    { 400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle" },
    { 401, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state" },
    { 500, "CUDA_ERROR_NOT_FOUND", "named symbol not found" },
    { 600, "CUDA_ERROR_NOT_READY", "device not ready" },
    { 700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered" },
    { 701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch" },
    { 801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported" },
    { 900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing" },
    { 901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture" },
    { 910, "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE", "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update" },
    { 999, "CUDA_ERROR_UNKNOWN", "unknown error" },
};

/* Like the real driver: an unknown code gives CUDA_ERROR_INVALID_VALUE and a null string. */
EXPORT CUresult cuGetErrorName(CUresult code, const char **out) {
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == code) { *out = errors[i].name; return OK; }
    *out = NULL;
    return INVALID_VALUE;
}

EXPORT CUresult cuGetErrorString(CUresult code, const char **out) {
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == code) { *out = errors[i].text; return OK; }
    *out = NULL;
    return INVALID_VALUE;
}

/* ---------------------------------------------------------------- initialisation and devices */

EXPORT CUresult cuInit(unsigned flags) {
    ENTER();
    if (flags != 0) return INVALID_VALUE;
    initialized = 1;
    return OK;
}

EXPORT CUresult cuDriverGetVersion(int *version) {
    ENTER();
    if (!version) return INVALID_VALUE;
    *version = 12040;
    return OK;
}

EXPORT CUresult cuDeviceGetCount(int *count) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    *count = device_count;
    return OK;
}

EXPORT CUresult cuDeviceGet(int *device, int ordinal) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    if (ordinal < 0 || ordinal >= device_count || ordinal >= MAX_DEVICES) return INVALID_DEVICE;
    *device = ordinal;
    return OK;
}

static int bad_device(int device) { return device < 0 || device >= device_count || device >= MAX_DEVICES; }

EXPORT CUresult cuDeviceGetName(char *name, int len, int device) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    if (bad_device(device)) return INVALID_DEVICE;
    if (!name || len <= 0) return INVALID_VALUE;
    snprintf(name, (size_t)len, "Fake CUDA Device %d", device);
    return OK;
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, int device) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    if (bad_device(device)) return INVALID_DEVICE;
    *bytes = (size_t)16 << 30;
    return OK;
}

EXPORT CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    if (bad_device(device)) return INVALID_DEVICE;
    switch (attribute) {
    case 16: *value = 4 + device; return OK;   /* multiprocessors */
    case 75: *value = 8; return OK;            /* compute capability major */
    case 76: *value = 6; return OK;            /* compute capability minor */
    default: return INVALID_VALUE;
    }
}

/* ---------------------------------------------------------------- contexts */

EXPORT CUresult cuDevicePrimaryCtxRetain(void **ctx, int device) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    if (bad_device(device)) return INVALID_DEVICE;
    primary_refs[device]++;
    *ctx = &context_tokens[device];
    return OK;
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(int device) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    if (bad_device(device)) return INVALID_DEVICE;
    if (primary_refs[device] == 0) return INVALID_CONTEXT;
    if (--primary_refs[device] == 0)
        for (int i = 0; i < MAX_ALLOCS; i++)
            if (allocs[i].base && allocs[i].device == device) { free(allocs[i].base); allocs[i].base = NULL; }
    return OK;
}

EXPORT CUresult cuDevicePrimaryCtxGetState(int device, unsigned *flags, int *active) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    if (bad_device(device)) return INVALID_DEVICE;
    if (!flags || !active) return INVALID_VALUE;
    *flags = 0;
    *active = primary_refs[device] > 0;
    return OK;
}

EXPORT CUresult cuCtxSetCurrent(void *ctx) {
    ENTER();
    if (!initialized) return NOT_INITIALIZED;
    int *token = ctx;
    if (token && (token < context_tokens || token >= context_tokens + MAX_DEVICES)) return INVALID_CONTEXT;
    current = token;
    return OK;
}

EXPORT CUresult cuCtxSynchronize(void) {
    ENTER();
    CUresult r = need_context();
    if (!r) r = refuse_if_capturing();
    if (!r) finish_all();
    return r;
}

/* ---------------------------------------------------------------- memory */

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes) {
    ENTER();
    CUresult r = need_context();
    if (!r) r = refuse_if_capturing();
    if (r) return r;
    if (bytes == 0) return INVALID_VALUE;
    for (int i = 0; i < MAX_ALLOCS; i++)
        if (!allocs[i].base) {
            char *p = malloc(bytes);
            if (!p) return OUT_OF_MEMORY;
            memset(p, 0xA5, bytes);   /* garbage, so nothing depends on fresh memory being zero */
            allocs[i].base = p;
            allocs[i].bytes = bytes;
            allocs[i].device = ctx_device(current);
            *ptr = (CUdeviceptr)(uintptr_t)p;
            return OK;
        }
    return OUT_OF_MEMORY;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr ptr) {
    ENTER();
    CUresult r = need_context();
    if (!r) r = refuse_if_capturing();
    if (r) return r;
    for (int i = 0; i < MAX_ALLOCS; i++)
        if (allocs[i].base && (CUdeviceptr)(uintptr_t)allocs[i].base == ptr) {
            free(allocs[i].base);
            allocs[i].base = NULL;
            return OK;
        }
    return INVALID_VALUE;
}

static CUresult check_stream(void *stream) { return stream == NULL || reg_has(K_STREAM, stream) ? OK : INVALID_HANDLE; }

static CUresult copy_in(CUdeviceptr dst, const void *src, size_t bytes) {
    CUresult r = need_context();
    if (r) return r;
    if (find_alloc(dst, bytes) < 0 || (!src && bytes)) return INVALID_VALUE;
    memcpy((void *)(uintptr_t)dst, src, bytes);
    return OK;
}

static CUresult copy_out(void *dst, CUdeviceptr src, size_t bytes) {
    CUresult r = need_context();
    if (r) return r;
    if (find_alloc(src, bytes) < 0 || (!dst && bytes)) return INVALID_VALUE;
    memcpy(dst, (const void *)(uintptr_t)src, bytes);
    return OK;
}

/* From pageable memory the synchronous upload returns once the data is staged, before the copy is done. */
EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) {
    ENTER();
    CUresult r = refuse_if_capturing();
    if (!r) r = copy_in(dst, src, bytes);
    if (!r) enqueue(__func__, NULL, 1);
    return r;
}

/* The synchronous download returns after it and the legacy stream's earlier work are done. */
EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes) {
    ENTER();
    CUresult r = refuse_if_capturing();
    if (!r) r = copy_out(dst, src, bytes);
    if (!r) { enqueue(__func__, NULL, 1); finish(NULL); }
    return r;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *stream) {
    ENTER();
    CUresult r = check_stream(stream);
    if (!r) r = capture_gate_host(stream, src, bytes);
    if (!r) r = copy_in(dst, src, bytes);
    if (r) return r;
    enqueue(__func__, stream, 1);
    int slot = stream_slot(stream);
    /* From pinned memory the device reads the source when the copy runs: remember what it must read. */
    if (bytes && slot >= 0 && !capturing[slot] && pinned_range(src, bytes))
        for (int i = 0; i < MAX_PENDING; i++)
            if (!pending_copies[i].snapshot) {
                pending_copies[i].snapshot = malloc(bytes);
                memcpy(pending_copies[i].snapshot, src, bytes);
                pending_copies[i].source = src;
                pending_copies[i].bytes = bytes;
                pending_copies[i].slot = slot;
                pending_copies[i].seq = enqueued[slot];
                break;
            }
    return OK;
}

EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytes) {
    ENTER();
    CUresult r = need_context();
    if (!r) r = refuse_if_capturing();
    if (r) return r;
    if (!pp || bytes == 0) return INVALID_VALUE;
    for (int i = 0; i < MAX_PINNED; i++)
        if (!pinned[i].base) {
            char *p = malloc(bytes);
            if (!p) return OUT_OF_MEMORY;
            memset(p, 0x5A, bytes);
            pinned[i].base = p;
            pinned[i].bytes = bytes;
            *pp = p;
            return OK;
        }
    return OUT_OF_MEMORY;
}

EXPORT CUresult cuMemFreeHost(void *p) {
    ENTER();
    CUresult r = need_context();
    if (!r) r = refuse_if_capturing();
    if (r) return r;
    for (int i = 0; i < MAX_PINNED; i++)
        if (pinned[i].base && pinned[i].base == p) {
            check_pinned_copies();
            for (int j = 0; j < MAX_PENDING; j++)
                if (pending_copies[j].snapshot && find_pinned(pending_copies[j].source, 0) == i) {
                    staging_hazard("pinned memory freed while a copy from it was pending", pinned_offset(pending_copies[j].source), pending_copies[j].bytes);
                    free(pending_copies[j].snapshot);
                    pending_copies[j].snapshot = NULL;
                }
            free(pinned[i].base);
            pinned[i].base = NULL;
            return OK;
        }
    return INVALID_VALUE;
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *stream) {
    ENTER();
    CUresult r = check_stream(stream);
    if (!r) r = capture_gate_host(stream, dst, bytes);
    if (!r) r = copy_out(dst, src, bytes);
    if (!r) enqueue(__func__, stream, 1);
    return r;
}

static CUresult copy_dd(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
    CUresult r = need_context();
    if (r) return r;
    if (find_alloc(dst, bytes) < 0 || find_alloc(src, bytes) < 0) return INVALID_VALUE;
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, bytes);
    return OK;
}

/* Device to device, even the "synchronous" call returns before the copy is done. */
EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
    ENTER();
    CUresult r = refuse_if_capturing();
    if (!r) r = copy_dd(dst, src, bytes);
    if (!r) enqueue(__func__, NULL, 1);
    return r;
}

EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void *stream) {
    ENTER();
    CUresult r = check_stream(stream);
    if (!r) r = capture_gate(stream);
    if (!r) r = copy_dd(dst, src, bytes);
    if (!r) enqueue(__func__, stream, 1);
    return r;
}

static CUresult fill32(CUdeviceptr dst, unsigned value, size_t n) {
    CUresult r = need_context();
    if (r) return r;
    if (find_alloc(dst, n * 4) < 0 || dst % 4) return INVALID_VALUE;
    unsigned *p = (unsigned *)(uintptr_t)dst;
    for (size_t i = 0; i < n; i++) p[i] = value;
    return OK;
}

/* Asynchronous with respect to the host for device memory, like the real call. */
EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned value, size_t n) {
    ENTER();
    CUresult r = refuse_if_capturing();
    if (!r) r = fill32(dst, value, n);
    if (!r) enqueue(__func__, NULL, 1);
    return r;
}

EXPORT CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t n, void *stream) {
    ENTER();
    CUresult r = check_stream(stream);
    if (!r) r = capture_gate(stream);
    if (!r) r = fill32(dst, value, n);
    if (!r) enqueue(__func__, stream, 1);
    return r;
}

/* ---------------------------------------------------------------- modules and launches */

EXPORT CUresult cuModuleLoadData(void **module, const void *image) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!image || !*(const char *)image) return INVALID_IMAGE;
    module_t *m = malloc(sizeof *m);
    m->image = strdup(image);
    reg_add(K_MODULE, m);
    *module = m;
    return OK;
}

static int count_entries(const char *image) {
    int n = 0;
    for (const char *q = image; (q = strstr(q, ".entry ")); q += 7) n++;
    return n;
}

/* Writes text into a JIT log buffer of *size bytes (NUL-terminated, capped) and stores the bytes written there. */
static void jit_log(char *buffer, uintptr_t *size, const char *text) {
    if (!buffer || !size || *size == 0) return;
    size_t n = strlen(text);
    if (n >= *size) n = *size - 1;
    memcpy(buffer, text, n);
    buffer[n] = 0;
    *size = n + 1;
}

/* CU_JIT_INFO_LOG_BUFFER = 3, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4, CU_JIT_ERROR_LOG_BUFFER = 5,
   CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6; a size option's value is the number itself, in the pointer slot. */
EXPORT CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned count, const int *options, void **values) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (count && (!options || !values)) return INVALID_VALUE;
    char *info = NULL, *error = NULL;
    uintptr_t *info_size = NULL, *error_size = NULL;
    for (unsigned i = 0; i < count; i++) {
        switch (options[i]) {
        case 3: info = values[i]; break;
        case 4: info_size = (uintptr_t *)&values[i]; break;
        case 5: error = values[i]; break;
        case 6: error_size = (uintptr_t *)&values[i]; break;
        default: return INVALID_VALUE;
        }
    }
    char text[256];
    if (!image || !*(const char *)image) {
        jit_log(error, error_size, "fake JIT: empty image");
        jit_log(info, info_size, "");
        return INVALID_IMAGE;
    }
    const char *marker = strstr(image, "// FAKE_JIT_ERROR: ");
    if (marker) {
        int line = 1;
        for (const char *q = image; q < marker; q++) line += *q == '\n';
        const char *msg = marker + strlen("// FAKE_JIT_ERROR: ");
        int len = (int)strcspn(msg, "\n");
        snprintf(text, sizeof text, "ptxas application ptx input, line %d; error   : %.*s", line, len, msg);
        jit_log(error, error_size, text);
        snprintf(text, sizeof text, "ptxas info    : 0 of %d entry function(s) compiled", count_entries(image));
        jit_log(info, info_size, text);
        return INVALID_PTX;
    }
    jit_log(error, error_size, "");
    snprintf(text, sizeof text, "ptxas info    : %d entry function(s) compiled for sm_86", count_entries(image));
    jit_log(info, info_size, text);
    module_t *m = malloc(sizeof *m);
    m->image = strdup(image);
    reg_add(K_MODULE, m);
    *module = m;
    return OK;
}

EXPORT CUresult cuModuleUnload(void *module) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    return reg_remove(K_MODULE, module) ? OK : INVALID_HANDLE;
}

EXPORT CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!reg_has(K_MODULE, module)) return INVALID_HANDLE;
    char pattern[96];
    if (!name || strlen(name) >= sizeof ((function_t *)0)->name) return INVALID_VALUE;
    snprintf(pattern, sizeof pattern, ".entry %s(", name);
    const char *entry = strstr(((module_t *)module)->image, pattern);
    if (!entry) return NOT_FOUND;
    function_t *f = malloc(sizeof *f);
    f->module = module;
    strcpy(f->name, name);
    /* The parameter list, ".param .TYPE name" up to ')': the width of each value cuLaunchKernel will read. */
    f->nparams = 0;
    const char *end = strchr(entry + strlen(pattern), ')');
    for (const char *q = entry + strlen(pattern); end && (q = strstr(q, ".param")) && q < end && f->nparams < MAX_PARAMS; q += 6) {
        const char *type = q + 6;
        while (*type == ' ' || *type == '\t') type++;
        int bits = 8;
        if (type[0] == '.' && type[1] && sscanf(type + 2, "%d", &bits) != 1) bits = 64;
        f->sizes[f->nparams++] = bits / 8 > 0 ? bits / 8 : 1;
    }
    reg_add(K_FUNCTION, f);
    *function = f;
    return OK;
}

EXPORT CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shared, void *stream, void **params, void **extra) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    function_t *f = function;
    if (!reg_has(K_FUNCTION, f) || !reg_has(K_MODULE, f->module)) return INVALID_HANDLE;
    if ((r = check_stream(stream))) return r;
    if ((r = capture_gate(stream))) return r;
    if (!gx || !gy || !gz || !bx || !by || !bz || extra) return INVALID_VALUE;
    enqueue(__func__, stream, 1);
    int captured_slot = stream_slot(stream);
    if (captured_slot >= 0 && capturing[captured_slot]) capture_shape[captured_slot] = mix(capture_shape[captured_slot], f->name);
    unsigned dims[7] = { gx, gy, gz, bx, by, bz, shared };
    int slot = launches % LOG_SIZE;
    launches++;
    memcpy(last_launch, dims, sizeof dims);
    last_stream = (unsigned long long)(uintptr_t)stream;
    snprintf(launch_log[slot].name, sizeof launch_log[slot].name, "%s", f->name);
    memcpy(launch_log[slot].dims, dims, sizeof dims);
    launch_log[slot].stream = last_stream;
    launch_log[slot].nargs = params ? f->nparams : 0;
    for (int i = 0; i < launch_log[slot].nargs; i++) {
        unsigned long long v = 0;
        memcpy(&v, params[i], (size_t)f->sizes[i]);
        launch_log[slot].args[i] = v;
    }
    unsigned long long threads = (unsigned long long)gx * gy * gz * bx * by * bz;
    if (strcmp(f->name, "saxpy") == 0) {
        CUdeviceptr y = *(CUdeviceptr *)params[0], x = *(CUdeviceptr *)params[1];
        float a = *(float *)params[2];
        int n = *(int *)params[3];
        unsigned long long run = n < 0 ? 0 : (unsigned long long)n < threads ? (unsigned long long)n : threads;
        if (run && (find_alloc(y, run * 4) < 0 || find_alloc(x, run * 4) < 0)) return ILLEGAL_ADDRESS;
        float *py = (float *)(uintptr_t)y;
        const float *px = (const float *)(uintptr_t)x;
        for (unsigned long long i = 0; i < run; i++) py[i] += a * px[i];
    } else if (strcmp(f->name, "scalars") == 0) {
        scalar_d = *(double *)params[0];
        scalar_l = *(long long *)params[1];
        scalar_u = *(unsigned *)params[2];
    }
    return OK;
}

/* ---------------------------------------------------------------- streams and events */

EXPORT CUresult cuStreamCreate(void **stream, unsigned flags) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (flags > 1) return INVALID_VALUE;
    void *s = malloc(1);
    reg_add(K_STREAM, s);
    int slot = stream_slot(s);
    if (slot >= 0) { enqueued[slot] = finished[slot] = 0; non_blocking[slot] = (int)flags; }
    *stream = s;
    return OK;
}

EXPORT CUresult cuStreamDestroy_v2(void *stream) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    /* The stream's work completes before its resources go. */
    if (reg_has(K_STREAM, stream)) finish(stream);
    return reg_remove(K_STREAM, stream) ? OK : INVALID_HANDLE;
}

EXPORT CUresult cuStreamSynchronize(void *stream) {
    ENTER();
    CUresult r = need_context();
    if (!r) r = check_stream(stream);
    if (!r) r = capture_gate(stream);
    if (!r && capturing[stream_slot(stream)]) {
        capture_invalid[stream_slot(stream)] = 1;
        capture_refusals++;
        r = CAPTURE_UNSUPPORTED;
    }
    if (!r) finish(stream);
    return r;
}

EXPORT CUresult cuEventCreate(void **event, unsigned flags) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (flags > 15) return INVALID_VALUE;
    event_t *e = calloc(1, sizeof *e);
    reg_add(K_EVENT, e);
    *event = e;
    return OK;
}

EXPORT CUresult cuEventRecord(void *event, void *stream) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!reg_has(K_EVENT, event)) return INVALID_HANDLE;
    if ((r = check_stream(stream))) return r;
    if ((r = capture_gate(stream))) return r;
    /* Not work of its own, but an event on one stream does not cover the other's work: a hazard all the same. */
    enqueue(__func__, stream, 0);
    event_t *e = event;
    e->ms = now_ms();
    e->recorded = 1;
    e->stream = stream;
    int slot = stream_slot(stream);
    e->upto = slot >= 0 ? enqueued[slot] : 0;
    return OK;
}

EXPORT CUresult cuEventSynchronize(void *event) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!reg_has(K_EVENT, event)) return INVALID_HANDLE;
    event_t *e = event;
    int slot = e->recorded ? stream_slot(e->stream) : -1;
    if (slot >= 0 && finished[slot] < e->upto) finished[slot] = e->upto;
    check_pinned_copies();
    return OK;
}

EXPORT CUresult cuEventElapsedTime(float *ms, void *start, void *end) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!reg_has(K_EVENT, start) || !reg_has(K_EVENT, end)) return INVALID_HANDLE;
    event_t *s = start, *e = end;
    if (!s->recorded || !e->recorded) return INVALID_HANDLE;
    *ms = (float)(e->ms - s->ms);
    return OK;
}

EXPORT CUresult cuEventDestroy_v2(void *event) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    return reg_remove(K_EVENT, event) ? OK : INVALID_HANDLE;
}

/* ---------------------------------------------------------------- stream capture and graphs */

#ifndef FAKE_NO_GRAPHS
typedef struct { int nodes; unsigned long long shape; } graph_t;
typedef struct { int result; void *error_node, *error_from_node; } update_info_t;

EXPORT CUresult cuStreamBeginCapture_v2(void *stream, int mode) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!stream) return CAPTURE_UNSUPPORTED;   /* the legacy stream cannot be captured */
    if (!reg_has(K_STREAM, stream)) return INVALID_HANDLE;
    if (mode < 0 || mode > 2) return INVALID_VALUE;
    int slot = stream_slot(stream);
    if (capturing[slot]) return ILLEGAL_STATE;
    capturing[slot] = 1;
    capture_invalid[slot] = 0;
    capture_nodes[slot] = 0;
    capture_shape[slot] = 14695981039346656037ULL;
    captures_begun++;
    return OK;
}

/* The capture ends whatever the outcome, as the driver's does: a scripted failure too. */
EXPORT CUresult cuStreamEndCapture(void *stream, void **graph) {
    count_call(__func__);
    int scripted_code = scripted(__func__);
    CUresult r = need_context();
    if (r) return r;
    if (!graph) return INVALID_VALUE;
    if (!reg_has(K_STREAM, stream)) return INVALID_HANDLE;
    int slot = stream_slot(stream);
    if (!capturing[slot]) return scripted_code ? scripted_code : ILLEGAL_STATE;
    capturing[slot] = 0;
    if (scripted_code) { *graph = NULL; return scripted_code; }
    if (capture_invalid[slot]) { *graph = NULL; return CAPTURE_INVALIDATED; }
    graph_t *g = malloc(sizeof *g);
    g->nodes = last_capture_nodes = capture_nodes[slot];
    g->shape = capture_shape[slot];
    reg_add(K_GRAPH, g);
    *graph = g;
    return OK;
}

EXPORT CUresult cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long flags) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!exec || !reg_has(K_GRAPH, graph) || flags) return INVALID_VALUE;
    graph_t *e = malloc(sizeof *e);
    *e = *(graph_t *)graph;
    reg_add(K_EXEC, e);
    *exec = e;
    return OK;
}

/* CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED = 2 when the shapes differ. */
EXPORT CUresult cuGraphExecUpdate_v2(void *exec, void *graph, update_info_t *info) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!reg_has(K_EXEC, exec) || !reg_has(K_GRAPH, graph) || !info) return INVALID_VALUE;
    graph_t *e = exec, *g = graph;
    info->error_node = info->error_from_node = NULL;
    if (e->nodes != g->nodes || e->shape != g->shape) { info->result = 2; return GRAPH_EXEC_UPDATE_FAILURE; }
    info->result = 0;
    return OK;
}

EXPORT CUresult cuGraphLaunch(void *exec, void *stream) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    if (!reg_has(K_EXEC, exec)) return INVALID_HANDLE;
    if ((r = check_stream(stream))) return r;
    if ((r = capture_gate(stream))) return r;
    enqueue(__func__, stream, 1);
    graph_launches++;
    return OK;
}

EXPORT CUresult cuGraphDestroy(void *graph) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    return reg_remove(K_GRAPH, graph) ? OK : INVALID_VALUE;
}

EXPORT CUresult cuGraphExecDestroy(void *exec) {
    ENTER();
    CUresult r = need_context();
    if (r) return r;
    return reg_remove(K_EXEC, exec) ? OK : INVALID_VALUE;
}
#endif

/* ---------------------------------------------------------------- cuBLAS */

EXPORT int cublasCreate_v2(void **handle) {
    ENTER();
    if (need_context()) return BLAS_NOT_INITIALIZED;
    cublas_t *h = calloc(1, sizeof *h);
    reg_add(K_CUBLAS, h);
    *handle = h;
    return BLAS_OK;
}

EXPORT int cublasDestroy_v2(void *handle) {
    ENTER();
    return reg_remove(K_CUBLAS, handle) ? BLAS_OK : BLAS_NOT_INITIALIZED;
}

EXPORT int cublasSetStream_v2(void *handle, void *stream) {
    ENTER();
    if (!reg_has(K_CUBLAS, handle)) return BLAS_NOT_INITIALIZED;
    if (check_stream(stream)) return BLAS_INVALID_VALUE;
    ((cublas_t *)handle)->stream = stream;
    return BLAS_OK;
}

static int imax(int a, int b) { return a > b ? a : b; }

/* Column-major C (m x n) = alpha op(A) op(B) + beta C, with cuBLAS's argument checks. */
static int gemm(void *handle, int ta, int tb, int m, int n, int k, const float *alpha, CUdeviceptr A, int lda,
                CUdeviceptr B, int ldb, const float *beta, CUdeviceptr C, int ldc, int compute) {
    if (!reg_has(K_CUBLAS, handle)) return BLAS_NOT_INITIALIZED;
    if (ta < 0 || ta > 1 || tb < 0 || tb > 1 || m < 0 || n < 0 || k < 0) return BLAS_INVALID_VALUE;
    int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
    if (lda < imax(1, aRows) || ldb < imax(1, bRows) || ldc < imax(1, m)) return BLAS_INVALID_VALUE;
    if (capture_gate(((cublas_t *)handle)->stream)) return BLAS_EXECUTION_FAILED;
    gemm_calls++;
    enqueue("cublasGemm", ((cublas_t *)handle)->stream, 1);
    int record[10] = { ta, tb, m, n, k, lda, ldb, ldc, compute, ((cublas_t *)handle)->stream != NULL };
    memcpy(last_gemm, record, sizeof record);
    if (m == 0 || n == 0) return BLAS_OK;
    /* Every operand the product reads must lie inside live device memory. */
    if (k > 0 && (find_alloc(A, ((size_t)(aCols - 1) * lda + aRows) * 4) < 0 ||
                  find_alloc(B, ((size_t)(bCols - 1) * ldb + bRows) * 4) < 0)) return BLAS_EXECUTION_FAILED;
    if (find_alloc(C, ((size_t)(n - 1) * ldc + m) * 4) < 0) return BLAS_EXECUTION_FAILED;
    const float *a = (const float *)(uintptr_t)A, *b = (const float *)(uintptr_t)B;
    float *c = (float *)(uintptr_t)C;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                float av = ta ? a[i * (size_t)lda + p] : a[p * (size_t)lda + i];
                float bv = tb ? b[p * (size_t)ldb + j] : b[j * (size_t)ldb + p];
                s += (double)av * bv;
            }
            float *cij = &c[j * (size_t)ldc + i];
            *cij = (float)(*alpha * s) + (*beta == 0.0f ? 0.0f : *beta * *cij);
        }
    return BLAS_OK;
}

EXPORT int cublasSgemm_v2(void *handle, int ta, int tb, int m, int n, int k, const float *alpha, CUdeviceptr A,
                          int lda, CUdeviceptr B, int ldb, const float *beta, CUdeviceptr C, int ldc) {
    ENTER();
    return gemm(handle, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, 0);
}

EXPORT int cublasGemmEx(void *handle, int ta, int tb, int m, int n, int k, const void *alpha, CUdeviceptr A,
                        int atype, int lda, CUdeviceptr B, int btype, int ldb, const void *beta, CUdeviceptr C,
                        int ctype, int ldc, int compute, int algo) {
    ENTER();
    /* Only the float32 combinations: CUDA_R_32F everywhere, 32F or 32F_FAST_TF32 compute, default algorithm. */
    if (atype != 0 || btype != 0 || ctype != 0 || (compute != 68 && compute != 77) || algo != -1) return BLAS_NOT_SUPPORTED;
    return gemm(handle, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, compute);
}

#ifndef FAKE_NO_STATUS_TEXT
EXPORT const char *cublasGetStatusName(int status) {
    switch (status) {
    case 0: return "CUBLAS_STATUS_SUCCESS";
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case 7: return "CUBLAS_STATUS_INVALID_VALUE";
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

EXPORT const char *cublasGetStatusString(int status) {
    switch (status) {
    case 0: return "fake cuBLAS: success";
    case 1: return "fake cuBLAS: not initialized";
    case 7: return "fake cuBLAS: invalid value";
    case 13: return "fake cuBLAS: execution failed";
    case 15: return "fake cuBLAS: not supported";
    default: return "fake cuBLAS: unknown status";
    }
}
#endif
