/*
 * emu.h - CUDA C++ on the CPU, enough for the CUDA backend's kernels (Testing/cuda/emu):
 *   __global__ / __device__ / __forceinline__ / __shared__   plain C++ (shared = static: blocks
 *                                                            run one after another)
 *   threadIdx, blockIdx, blockDim, gridDim                   globals set by the launcher
 *   __syncthreads()                                          a barrier between the block's threads,
 *                                                            which run as fibers (ucontext)
 *   QR_CU_KERNEL(kernel, grid, block, stream)(args...)       runs every block of the grid, every
 *                                                            thread of a block (a kernel that never
 *                                                            reaches a barrier runs its threads as a
 *                                                            plain loop after its first block)
 * A launch with an empty grid or more than 1024 threads fails like CUDA's
 * (cudaErrorInvalidConfiguration, reported by cudaGetLastError). QR_EMU_RACECHECK=1 runs every
 * launch a second time in reverse order and aborts if the results differ (emu.cpp).
 */
#ifndef QR_EMU_H
#define QR_EMU_H

#include <functional>
#include <tuple>
#include <type_traits>

#include "cuda_runtime.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
/* a kernel that declares shared memory always runs its threads as fibers (it may reach a barrier
 * in some blocks only) */
#define __shared__                                                                                  \
    ::emu::mark_shared();                                                                           \
    static
#ifndef __CUDACC__
#define __CUDACC__ 1
#endif

namespace emu {
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
void syncthreads();
void mark_shared();
/* run body on every thread of every block (an invalid configuration sets the launch error);
 * name is the kernel's name for the race check's report */
void run_grid(dim3 grid, dim3 block, const void *kernel_id, const char *name, const std::function<void()> &body);

/* A kernel's pointer arguments must point into device memory (or be NULL): a GPU cannot read the
 * host's (pageable) memory, the emulation could. Names the kernel and aborts otherwise. */
void check_pointer_arg(const void *p, const char *kernel, int index);
template <typename T>
void check_arg(const T &a, const char *kernel, int index) {
    if constexpr (std::is_pointer<T>::value) check_pointer_arg((const void *)a, kernel, index);
    else (void)a, (void)kernel, (void)index;
}

template <typename... P>
struct launcher {
    dim3 grid, block;
    void (*kernel)(P...);
    const char *name;
    template <typename... A>
    void operator()(A... a) const {
        std::tuple<P...> args(a...); /* converted to the kernel's parameter types, as a launch does */
        void (*k)(P...) = kernel;
        std::apply([this](const auto &...v) {
            int i = 0;
            (check_arg(v, name, i++), ...);
        }, args);
        run_grid(grid, block, (const void *)k, name, [&args, k]() { std::apply(k, args); });
    }
};
template <typename... P>
launcher<P...> launch(dim3 grid, dim3 block, void (*kernel)(P...), const char *name) {
    return launcher<P...>{grid, block, kernel, name};
}
} // namespace emu

using emu::blockDim;
using emu::blockIdx;
using emu::gridDim;
using emu::threadIdx;
#define __syncthreads() emu::syncthreads()
#define QR_CU_KERNEL(kernel, grid, block, stream) ((void)(stream), ::emu::launch(dim3(grid), dim3(block), kernel, #kernel))

#endif
