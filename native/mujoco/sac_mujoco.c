// sac_mujoco: the small C layer between .NET and libmujoco (MuJoCo 2.2.2).
//
// Why it exists: MuJoCo reports errors through mju_user_error, whose default prints and calls exit(1); a handler that
// returns leaves MuJoCo's state corrupt, and a .NET exception cannot unwind through native frames. So every call that
// can raise an error runs here under setjmp, the error hook longjmps back to it with the message, and .NET gets a
// status code plus the text. Warnings are captured the same way instead of being printed (and logged to a file in the
// working directory, as the default hook does).
//
// It needs no MuJoCo headers: it declares the few entry points it uses and finds them with dlopen/dlsym at run time,
// so it builds on a machine without libmujoco and reports, at run time, what is missing. Field access to mjModel and
// mjData is done in .NET through the offsets of MuJoCoLayout (generated from the 2.2.2 headers by layout.c).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SACMJ_EXPORT __attribute__((visibility("default")))

typedef void (*hook_fn)(const char*);

static void* lib;
static int (*p_mj_version)(void);
static void* (*p_mj_loadXML)(const char*, const void*, char*, int);
static void* (*p_mj_makeData)(const void*);
static void (*p_mj_deleteData)(void*);
static void (*p_mj_deleteModel)(void*);
static void (*p_mj_resetData)(const void*, void*);
static void (*p_mj_forward)(const void*, void*);
static void (*p_mj_step)(const void*, void*);
static void (*p_mj_rnePostConstraint)(const void*, void*);
static int (*p_mj_name2id)(const void*, int, const char*);
static hook_fn* p_user_error;
static hook_fn* p_user_warning;

// Per thread: each environment steps on one thread at a time, and different environments may step on different ones.
static __thread jmp_buf* active_jump;
static __thread char error_text[1024];
static __thread char warning_text[1024];
static __thread int warning_count;

static void copy_text(char* dest, int size, const char* src)
{
    if (dest == NULL || size <= 0) return;
    snprintf(dest, (size_t)size, "%s", src != NULL ? src : "");
}

static void on_error(const char* msg)
{
    copy_text(error_text, sizeof error_text, msg);
    if (active_jump != NULL) longjmp(*active_jump, 1);
    // An error outside any guarded call (cannot happen through this layer): never return into MuJoCo.
    fprintf(stderr, "sac_mujoco: unguarded MuJoCo error: %s\n", error_text);
    _exit(70);
}

static void on_warning(const char* msg)
{
    copy_text(warning_text, sizeof warning_text, msg);
    warning_count++;
}

#define RESOLVE(name)                                                                                                  \
    do {                                                                                                               \
        *(void**)(&p_##name) = dlsym(lib, #name);                                                                      \
        if (p_##name == NULL) {                                                                                        \
            snprintf(err, (size_t)errsz, "%s lacks the entry point %s", path, #name);                                  \
            return -1;                                                                                                 \
        }                                                                                                              \
    } while (0)

// Loads libmujoco from `path` and installs the hooks. Returns mj_version(), or -1 with the reason in err.
SACMJ_EXPORT int sacmj_init(const char* path, char* err, int errsz)
{
    if (lib != NULL) return p_mj_version();
    void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        copy_text(err, errsz, dlerror());
        return -1;
    }
    lib = handle;
    RESOLVE(mj_version);
    RESOLVE(mj_loadXML);
    RESOLVE(mj_makeData);
    RESOLVE(mj_deleteData);
    RESOLVE(mj_deleteModel);
    RESOLVE(mj_resetData);
    RESOLVE(mj_forward);
    RESOLVE(mj_step);
    RESOLVE(mj_rnePostConstraint);
    RESOLVE(mj_name2id);
    p_user_error = (hook_fn*)dlsym(lib, "mju_user_error");
    p_user_warning = (hook_fn*)dlsym(lib, "mju_user_warning");
    if (p_user_error == NULL || p_user_warning == NULL) {
        snprintf(err, (size_t)errsz, "%s lacks the hooks mju_user_error/mju_user_warning", path);
        lib = NULL;
        return -1;
    }
    *p_user_error = on_error;
    *p_user_warning = on_warning;
    return p_mj_version();
}

// Runs `body` under setjmp; on a MuJoCo error returns 1 with the message in err.
#define GUARDED(body)                                                                                                  \
    jmp_buf jump;                                                                                                      \
    jmp_buf* saved = active_jump;                                                                                      \
    if (setjmp(jump) != 0) {                                                                                           \
        active_jump = saved;                                                                                           \
        copy_text(err, errsz, error_text);                                                                             \
        return 1;                                                                                                      \
    }                                                                                                                  \
    active_jump = &jump;                                                                                               \
    body;                                                                                                              \
    active_jump = saved;                                                                                               \
    return 0

// Compiles an MJCF file. Returns the mjModel*, or NULL with the parser's or the error hook's message in err.
SACMJ_EXPORT void* sacmj_load_xml(const char* file, char* err, int errsz)
{
    void* volatile model = NULL;
    jmp_buf jump;
    jmp_buf* saved = active_jump;
    if (setjmp(jump) != 0) {
        active_jump = saved;
        copy_text(err, errsz, error_text);
        return NULL;
    }
    active_jump = &jump;
    if (errsz > 0) err[0] = 0;
    model = p_mj_loadXML(file, NULL, err, errsz);
    active_jump = saved;
    if (model == NULL && errsz > 0 && err[0] == 0) copy_text(err, errsz, "mj_loadXML returned no model");
    return model;
}

SACMJ_EXPORT int sacmj_make_data(const void* m, void** d, char* err, int errsz)
{
    GUARDED(*d = p_mj_makeData(m));
}

SACMJ_EXPORT void sacmj_delete_data(void* d)
{
    if (d != NULL) p_mj_deleteData(d);
}

SACMJ_EXPORT void sacmj_delete_model(void* m)
{
    if (m != NULL) p_mj_deleteModel(m);
}

SACMJ_EXPORT int sacmj_reset(const void* m, void* d, char* err, int errsz)
{
    GUARDED(p_mj_resetData(m, d));
}

SACMJ_EXPORT int sacmj_forward(const void* m, void* d, char* err, int errsz)
{
    GUARDED(p_mj_forward(m, d));
}

// mj_step `nstep` times, then mj_rnePostConstraint so cacc, cfrc_int and cfrc_ext hold this state's values (MuJoCo
// computes them only on demand).
SACMJ_EXPORT int sacmj_step(const void* m, void* d, int nstep, char* err, int errsz)
{
    GUARDED(for (int i = 0; i < nstep; i++) p_mj_step(m, d); p_mj_rnePostConstraint(m, d));
}

SACMJ_EXPORT int sacmj_name2id(const void* m, int type, const char* name)
{
    return p_mj_name2id(m, type, name);
}

// The number of warnings the hook received on this thread, and the last one's text (for messages only: the
// authoritative record is mjData.warning, read in .NET after every step).
SACMJ_EXPORT int sacmj_last_warning(char* text, int size)
{
    copy_text(text, size, warning_text);
    return warning_count;
}
