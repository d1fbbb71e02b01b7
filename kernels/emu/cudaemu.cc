/*
 * cudaemu.cc - the runtime of the CUDA emulation (cudaemu.h): the kernel
 * registry, the launch, the per-block fiber scheduler, barriers and the
 * deadlock report. Compile it once per program, with the kernels.
 *
 * C entry points (cuLaunchKernel's convention, CUresult-style codes):
 *   int emu_launch(const char *name, unsigned gx, unsigned gy, unsigned gz,
 *                  unsigned bx, unsigned by, unsigned bz, unsigned shared,
 *                  void **params, char *err, size_t errlen);
 *   int emu_set_max_dynamic_shared(const char *name, unsigned bytes);
 *   void emu_set_reverse_order(int on);   (for launches that follow)
 *   size_t emu_kernel_names(char *buf, size_t len);
 * A failed launch (deadlock, trap, misuse of a warp op) returns
 * EMU_LAUNCH_FAILED with the report in err; with CUDAEMU_ABORT=1 in the
 * environment it prints the report and aborts instead (for a debugger).
 */
#include "cudaemu.h"

#include <cstdarg>
#include <cstdlib>
#include <map>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#if !defined(__x86_64__) && !defined(EMU_UCONTEXT)
#define EMU_UCONTEXT 1 /* portable but slower: swapcontext saves the signal mask with a syscall */
#endif
#if defined(EMU_UCONTEXT)
#include <ucontext.h>
#endif

enum {
    EMU_SUCCESS = 0,
    EMU_INVALID_VALUE = 1,   /* CUDA_ERROR_INVALID_VALUE */
    EMU_NOT_FOUND = 500,     /* CUDA_ERROR_NOT_FOUND */
    EMU_OUT_OF_RESOURCES = 701, /* CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES */
    EMU_LAUNCH_FAILED = 719, /* CUDA_ERROR_LAUNCH_FAILED */
};

namespace emu {
namespace {

struct Kernel {
    void *fn;
    Invoker inv;
    int nparams;
    unsigned max_dyn = 48 << 10; /* as on the GPU until the attribute is raised */
};

std::map<std::string, Kernel> &registry() {
    static std::map<std::string, Kernel> r;
    return r;
}

constexpr size_t kStack = 128 << 10; /* per fiber, plus a guard page below */
constexpr unsigned kMaxThreads = 1024;
constexpr unsigned kMaxDyn = 227 << 10; /* sm_90's opt-in limit */

/* The scheduler's state for the block being run on this OS thread. */
struct Sched {
    const char *kernel = nullptr;
    void *fn = nullptr;
    Invoker inv = nullptr;
    void **params = nullptr;
    std::vector<Fiber> fibers;
    unsigned n = 0;             /* threads in the block */
    unsigned live = 0;          /* not yet exited */
    unsigned arrived = 0;       /* at the block barrier */
    unsigned warp_arrived[32]; /* lanes waiting at a warp op, per warp */
    void *sp = nullptr;         /* the scheduler's stack pointer */
    bool failed = false;
    bool reverse = false; /* run the fibers in descending thread order */
    std::string err;
    unsigned char *stacks = nullptr; /* kMaxThreads stacks, mapped once */
    std::vector<unsigned char> dyn;
#if defined(EMU_UCONTEXT)
    std::vector<ucontext_t> uc;
    ucontext_t main_uc;
#endif
};
int reverse_order; /* emu_set_reverse_order */

/* Trivially initialised, so no TLS init call on each access. */
thread_local Sched *sched_ptr;
#define S (*::emu::sched_ptr)

const char *short_path(const char *f) {
    const char *k = strstr(f, "kernels/");
    for (const char *p; k && (p = strstr(k + 1, "kernels/"));)
        k = p;
    return k ? k : f;
}

} // namespace
} // namespace emu

/* ---- context switch ---- */
#if !defined(EMU_UCONTEXT)
/* emu_swap(save, to): push the callee-saved registers, store rsp in *save,
 * load rsp from to, pop and return into the other context. A new fiber's
 * stack holds six zero registers and emu_fiber_entry as return address. */
extern "C" void emu_swap(void **save, void *to);
extern "C" void emu_fiber_entry();
asm(R"(
	.text
	.p2align 4
	.globl emu_swap
	.hidden emu_swap
	.type emu_swap, @function
emu_swap:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size emu_swap, .-emu_swap
	.p2align 4
	.globl emu_fiber_entry
	.hidden emu_fiber_entry
	.type emu_fiber_entry, @function
emu_fiber_entry:
	call emu_fiber_main
	ud2
	.size emu_fiber_entry, .-emu_fiber_entry
)");
#endif

extern "C" __attribute__((used, visibility("hidden"))) void emu_fiber_main();

namespace emu {
namespace {

inline void to_sched(Fiber *f) {
#if defined(EMU_UCONTEXT)
    swapcontext(static_cast<ucontext_t *>(f->uctx), &S.main_uc);
#else
    emu_swap(&f->sp, S.sp);
#endif
}

/* f blocks or exits: switch straight to the next runnable fiber after it
 * (one switch instead of two through the scheduler), or to the scheduler
 * when there is none (all exited, or a deadlock). */
inline void yield_from(Fiber *f) {
    Fiber *fs = S.fibers.data();
    for (unsigned k = 1, i = f->lin; k < S.n; k++) {
        i = S.reverse ? (i ? i - 1 : S.n - 1) : (i + 1 == S.n ? 0 : i + 1);
        Fiber *g = &fs[i];
        if (g->state == RUNNABLE) {
            ctx.cur = g;
#if defined(EMU_UCONTEXT)
            swapcontext(static_cast<ucontext_t *>(f->uctx), static_cast<ucontext_t *>(g->uctx));
#else
            emu_swap(&f->sp, g->sp);
#endif
            return;
        }
    }
    to_sched(f);
}

inline void to_fiber(Fiber *f) {
    ctx.cur = f;
#if defined(EMU_UCONTEXT)
    swapcontext(&S.main_uc, static_cast<ucontext_t *>(f->uctx));
#else
    emu_swap(&S.sp, f->sp);
#endif
}

void map_stacks() {
    if (S.stacks)
        return;
    size_t page = size_t(sysconf(_SC_PAGESIZE)), each = kStack + page;
    void *m = mmap(nullptr, each * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        perror("cudaemu: mmap of the fiber stacks");
        abort();
    }
    S.stacks = static_cast<unsigned char *>(m);
    for (unsigned i = 0; i < kMaxThreads; i++)
        mprotect(S.stacks + i * each, page, PROT_NONE); /* overflow faults instead of corrupting */
#if defined(EMU_UCONTEXT)
    S.uc.resize(kMaxThreads);
#endif
}

void init_fiber(Fiber *f, unsigned i) {
    static const size_t page = size_t(sysconf(_SC_PAGESIZE));
    size_t each = kStack + page;
    /* Stagger the tops: equal page offsets would put every fiber's frames in the same cache sets. */
    unsigned char *lo = S.stacks + i * each + page, *top = lo + kStack - (i % 31) * 128;
#if defined(EMU_UCONTEXT)
    ucontext_t *u = &S.uc[i];
    getcontext(u);
    u->uc_stack.ss_sp = lo;
    u->uc_stack.ss_size = kStack;
    u->uc_link = nullptr;
    makecontext(u, emu_fiber_main, 0);
    f->uctx = u;
#else
    (void)lo;
    /* sp = top-72 (8 mod 16): after 6 pops and ret, rsp = top-16, aligned for the call */
    void **sp = reinterpret_cast<void **>(top - 72);
    for (int r = 0; r < 6; r++)
        sp[r] = nullptr;
    sp[6] = reinterpret_cast<void *>(&emu_fiber_entry);
    f->sp = sp;
#endif
}

/* Threads [lo, hi] in a compact list such as "0-15,32-47". */
std::string ranges(const std::vector<unsigned> &ids) {
    std::string s;
    char b[32];
    for (size_t i = 0; i < ids.size();) {
        size_t j = i;
        while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1)
            j++;
        snprintf(b, sizeof b, i == j ? "%s%u" : "%s%u-%u", s.empty() ? "" : ",", ids[i], ids[j]);
        s += b;
        i = j + 1;
    }
    return s;
}

std::string block_name() {
    char b[96];
    snprintf(b, sizeof b, "block (%u,%u,%u) of grid (%u,%u,%u), %u threads", ctx.bidx.x, ctx.bidx.y, ctx.bidx.z,
             ctx.gdim.x, ctx.gdim.y, ctx.gdim.z, S.n);
    return b;
}

std::string thread_name(const Fiber *f) {
    char b[64];
    snprintf(b, sizeof b, "thread (%u,%u,%u)", f->tid.x, f->tid.y, f->tid.z);
    return b;
}

/* The deadlock report: one line per (barrier, site, mask) with its threads. */
void deadlock() {
    struct Group {
        const Fiber *first;
        std::vector<unsigned> ids;
    };
    std::vector<Group> gs;
    for (unsigned i = 0; i < S.n; i++) {
        const Fiber *f = &S.fibers[i];
        Group *g = nullptr;
        for (auto &x : gs) {
            const Fiber *h = x.first;
            if (h->state == f->state && (f->state == DONE || (h->op == f->op && h->line == f->line && h->mask == f->mask &&
                                                               strcmp(h->file, f->file) == 0))) {
                g = &x;
                break;
            }
        }
        if (!g) {
            gs.push_back(Group{f, {}});
            g = &gs.back();
        }
        g->ids.push_back(i);
    }
    std::string m = "cudaemu: deadlock in kernel " + std::string(S.kernel) + ", " + block_name() +
                    ": no thread can proceed (linear thread ids):";
    char b[160];
    for (auto &g : gs) {
        const Fiber *f = g.first;
        if (f->state == DONE)
            snprintf(b, sizeof b, "\n  %zu exited", g.ids.size());
        else if (f->state == WAIT_WARP)
            snprintf(b, sizeof b, "\n  %zu wait at %s (mask 0x%08x) at %s:%d", g.ids.size(), f->what, f->mask,
                     short_path(f->file), f->line);
        else
            snprintf(b, sizeof b, "\n  %zu wait at %s at %s:%d", g.ids.size(), f->what, short_path(f->file), f->line);
        m += b;
        m += ": threads " + ranges(g.ids) + ", the first " + thread_name(f);
    }
    S.err = m;
    S.failed = true;
}

void run_block() {
    S.live = S.n;
    S.arrived = 0;
    memset(S.warp_arrived, 0, sizeof S.warp_arrived);
    for (unsigned i = 0; i < S.n; i++) {
        Fiber *f = &S.fibers[i];
        *f = Fiber{};
        f->lin = i;
        f->tid = uint3{i % ctx.bdim.x, (i / ctx.bdim.x) % ctx.bdim.y, i / (ctx.bdim.x * ctx.bdim.y)};
        f->state = RUNNABLE;
        init_fiber(f, i);
    }
    if (!S.dyn.empty())
        memset(S.dyn.data(), 0xff, S.dyn.size());
    /* Fibers pass control among themselves; back here, none could run. */
    while (S.live > 0 && !S.failed) {
        unsigned k = 0;
        while (k < S.n && S.fibers[S.reverse ? S.n - 1 - k : k].state != RUNNABLE)
            k++;
        if (k == S.n) {
            deadlock();
            break;
        }
        to_fiber(&S.fibers[S.reverse ? S.n - 1 - k : k]);
    }
    ctx.cur = nullptr;
}

} // namespace

void register_kernel(const char *name, void *fn, Invoker inv, int nparams) {
    auto &r = registry();
    if (r.count(name)) {
        fprintf(stderr, "cudaemu: kernel %s registered twice\n", name);
        abort();
    }
    r[name] = Kernel{fn, inv, nparams};
}

void fail(const char *fmt, ...) {
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    Fiber *f = ctx.cur;
    if (!f) {
        fprintf(stderr, "cudaemu: %s (outside a kernel)\n", b);
        abort();
    }
    S.err = "cudaemu: kernel " + std::string(S.kernel) + ", " + block_name() + ", " + thread_name(f) + ": " + b;
    S.failed = true;
    f->state = DONE;
    to_sched(f); /* never resumed: the launch is abandoned */
    abort();
}

int block_op(uint8_t op, int pred, const char *what, const char *file, int line) {
    Fiber *f = ctx.cur;
    f->state = WAIT_BLOCK;
    f->op = op;
    f->mask = 0;
    f->pred = pred;
    f->what = what;
    f->file = file;
    f->line = line;
    if (++S.arrived < S.n) {
        yield_from(f);
        return int(f->out);
    }
    /* Everyone is here: the same barrier at the same place, or a divergence. */
    S.arrived = 0;
    int count = 0;
    for (unsigned i = 0; i < S.n; i++) {
        Fiber *g = &S.fibers[i];
        if (g->op != op || g->line != line || strcmp(g->file, file) != 0)
            fail("divergent barriers: thread %u waits at %s at %s:%d, thread %u at %s at %s:%d", i, g->what,
                 short_path(g->file), g->line, f->lin, what, short_path(file), line);
        count += g->pred;
    }
    uint64_t out = op == B_COUNT ? count : op == B_AND ? count == int(S.n) : op == B_OR ? count > 0 : 0;
    for (unsigned i = 0; i < S.n; i++) {
        S.fibers[i].state = RUNNABLE;
        S.fibers[i].out = out;
    }
    return int(out);
}

uint64_t warp_op(uint8_t op, unsigned mask, uint64_t val, int arg, int width, int pred, const char *what,
                 const char *file, int line) {
    Fiber *f = ctx.cur;
    unsigned lane = f->lin & 31, w = f->lin >> 5, base = f->lin & ~31u;
    if (!(mask >> lane & 1))
        fail("%s at %s:%d: lane %u is not in its own mask 0x%08x", what, short_path(file), line, lane, mask);
    if (width < 1 || width > 32 || (width & (width - 1)))
        fail("%s at %s:%d: width %d is not a power of two in 1..32", what, short_path(file), line, width);
    f->state = WAIT_WARP;
    f->op = op;
    f->mask = mask;
    f->val = val;
    f->arg = arg;
    f->width = width;
    f->pred = pred;
    f->what = what;
    f->file = file;
    f->line = line;
    unsigned &arr = S.warp_arrived[w];
    arr |= 1u << lane;
    if ((arr & mask) != mask) {
        yield_from(f);
        return f->out;
    }
    for (unsigned m = mask; m; m &= m - 1) {
        const Fiber *g = &S.fibers[base + __builtin_ctz(m)];
        if (g->op != op || g->mask != mask || g->width != width || g->collective != f->collective) {
            yield_from(f); /* a mismatch: they wait for other lanes; the deadlock report names both */
            return f->out;
        }
    }
    /* Every lane of the mask is here: exchange, then release them. */
    if (op == W_COLLECTIVE) {
        void *lanes[32];
        for (unsigned l = 0; l < 32; l++)
            lanes[l] = reinterpret_cast<void *>(S.fibers[base + l].val);
        f->collective(lanes);
    }
    unsigned votes = 0;
    uint64_t red = op == W_MINU || op == W_AND ? 0xffffffffu : op == W_MINI ? 0x7fffffffu : op == W_MAXI ? 0x80000000u : 0;
    bool all_same = true;
    for (unsigned m = mask; m; m &= m - 1) {
        unsigned l = __builtin_ctz(m);
        const Fiber *g = &S.fibers[base + l];
        if (g->pred)
            votes |= 1u << l;
        uint32_t v = uint32_t(g->val), r = uint32_t(red);
        switch (op) {
        case W_ADD: r += v; break;
        case W_MINU: r = v < r ? v : r; break;
        case W_MAXU: r = v > r ? v : r; break;
        case W_MINI: r = int32_t(v) < int32_t(r) ? v : r; break;
        case W_MAXI: r = int32_t(v) > int32_t(r) ? v : r; break;
        case W_AND: r &= v; break;
        case W_OR: r |= v; break;
        case W_XORR: r ^= v; break;
        }
        red = r;
        all_same = all_same && g->val == f->val;
    }
    for (unsigned m = mask; m; m &= m - 1) {
        unsigned l = __builtin_ctz(m), seg = l & ~unsigned(width - 1);
        Fiber *g = &S.fibers[base + l];
        int src = -1;
        switch (op) {
        case W_IDX:
            src = int(seg + (unsigned(g->arg) & unsigned(width - 1)));
            break;
        case W_UP:
            src = int(l) - g->arg >= int(seg) ? int(l) - g->arg : int(l);
            break;
        case W_DOWN:
            src = l + unsigned(g->arg) < seg + unsigned(width) ? int(l + unsigned(g->arg)) : int(l);
            break;
        case W_XOR: {
            unsigned s = l ^ unsigned(g->arg);
            src = s >= seg && s < seg + unsigned(width) ? int(s) : int(l);
            break;
        }
        case W_BALLOT:
            g->out = votes;
            break;
        case W_ANY:
            g->out = votes != 0;
            break;
        case W_ALL:
            g->out = votes == mask;
            break;
        case W_ADD: case W_MINU: case W_MAXU: case W_MINI: case W_MAXI: case W_AND: case W_OR: case W_XORR:
            g->out = red;
            break;
        case W_MATCH_ANY: {
            unsigned same = 0;
            for (unsigned m2 = mask; m2; m2 &= m2 - 1)
                if (S.fibers[base + __builtin_ctz(m2)].val == g->val)
                    same |= 1u << __builtin_ctz(m2);
            g->out = same;
            break;
        }
        case W_MATCH_ALL:
            g->out = all_same ? mask : 0;
            break;
        default:
            g->out = 0;
        }
        if (src >= 0) /* a lane outside the mask gives an undefined value on the GPU: here the caller's own */
            g->out = (mask >> src & 1) ? S.fibers[base + src].val : g->val;
    }
    for (unsigned m = mask; m; m &= m - 1)
        S.fibers[base + __builtin_ctz(m)].state = RUNNABLE;
    arr &= ~mask;
    return f->out;
}

void warp_collective(void *lane_data, void (*fn)(void *const *lanes), const char *what, const char *file,
                     int line) {
    ctx.cur->collective = fn;
    warp_op(W_COLLECTIVE, 0xffffffffu, reinterpret_cast<uint64_t>(lane_data), 0, 32, 0, what, file, line);
    ctx.cur->collective = nullptr;
}

unsigned active_mask() {
    unsigned base = ctx.cur->lin & ~31u, m = 0;
    for (unsigned l = 0; l < 32 && base + l < S.n; l++)
        if (S.fibers[base + l].state != DONE)
            m |= 1u << l;
    return m;
}

} // namespace emu

extern "C" void emu_fiber_main() {
    using namespace emu;
    S.inv(S.fn, S.params);
    Fiber *f = ctx.cur;
    f->state = DONE;
    S.live--;
    yield_from(f);
    abort(); /* an exited fiber is never resumed */
}

/* The registered kernels' names, sorted, separated by '\n', in buf; returns
 * the length needed (call again with a larger buffer when it is >= len). */
extern "C" size_t emu_kernel_names(char *buf, size_t len) {
    std::string s;
    for (auto &k : emu::registry())
        s += (s.empty() ? "" : "\n") + k.first;
    if (len)
        snprintf(buf, len, "%s", s.c_str());
    return s.size();
}

/* Between barriers fibers run in thread order; reversed, a read of another
 * thread's write that lacks a barrier sees the other side of the race. */
extern "C" void emu_set_reverse_order(int on) { __atomic_store_n(&emu::reverse_order, on, __ATOMIC_RELAXED); }

extern "C" int emu_set_max_dynamic_shared(const char *name, unsigned bytes) {
    auto it = emu::registry().find(name);
    if (it == emu::registry().end())
        return EMU_NOT_FOUND;
    if (bytes > emu::kMaxDyn)
        return EMU_INVALID_VALUE;
    it->second.max_dyn = bytes;
    return EMU_SUCCESS;
}

extern "C" int emu_launch(const char *name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                          unsigned bz, unsigned shared, void **params, char *err, size_t errlen) {
    using namespace emu;
    auto put = [&](int code, const std::string &m) {
        if (code != EMU_SUCCESS && getenv("CUDAEMU_ABORT") && *getenv("CUDAEMU_ABORT") == '1') {
            fprintf(stderr, "%s\n", m.c_str());
            abort();
        }
        if (err && errlen) {
            snprintf(err, errlen, "%s", m.c_str());
        }
        return code;
    };
    if (ctx.cur)
        return put(EMU_INVALID_VALUE, "cudaemu: launch from inside a kernel");
    auto it = registry().find(name);
    if (it == registry().end())
        return put(EMU_NOT_FOUND, "cudaemu: no kernel named " + std::string(name));
    const Kernel &k = it->second;
    char b[200];
    uint64_t threads = uint64_t(bx) * by * bz;
    if (!gx || !gy || !gz || !bx || !by || !bz || gx > 0x7fffffffu || gy > 65535 || gz > 65535 || bz > 64 ||
        threads > kMaxThreads) {
        snprintf(b, sizeof b, "cudaemu: %s: invalid launch grid (%u,%u,%u) block (%u,%u,%u)", name, gx, gy, gz, bx, by,
                 bz);
        return put(EMU_INVALID_VALUE, b);
    }
    if (shared > k.max_dyn) {
        snprintf(b, sizeof b, "cudaemu: %s: %u bytes of dynamic shared memory, the limit is %u", name, shared,
                 k.max_dyn);
        return put(EMU_OUT_OF_RESOURCES, b);
    }
    if (k.nparams > 0 && !params)
        return put(EMU_INVALID_VALUE, "cudaemu: " + std::string(name) + ": no parameters given");
    if (!sched_ptr)
        sched_ptr = new Sched; /* kept for the OS thread's life */
    map_stacks();
    S.kernel = name;
    S.fn = k.fn;
    S.inv = k.inv;
    S.params = params;
    S.n = unsigned(threads);
    S.fibers.resize(S.n);
    S.failed = false;
    S.reverse = __atomic_load_n(&reverse_order, __ATOMIC_RELAXED) != 0;
    S.err.clear();
    S.dyn.resize(shared);
    ctx.dyn = shared ? S.dyn.data() : nullptr;
    ctx.bdim = dim3(bx, by, bz);
    ctx.gdim = dim3(gx, gy, gz);
    for (unsigned z = 0; z < gz && !S.failed; z++)
        for (unsigned y = 0; y < gy && !S.failed; y++)
            for (unsigned x = 0; x < gx && !S.failed; x++) {
                ctx.bidx = uint3{x, y, z};
                run_block();
            }
    ctx.dyn = nullptr;
    if (S.failed) {
#if defined(__SANITIZE_ADDRESS__)
        /* The abandoned fibers' frames stay poisoned in ASan's shadow: clear it before the stacks' reuse. */
        __asan_unpoison_memory_region(S.stacks, S.n * (kStack + size_t(sysconf(_SC_PAGESIZE))));
#endif
        return put(EMU_LAUNCH_FAILED, S.err);
    }
    return put(EMU_SUCCESS, "");
}
