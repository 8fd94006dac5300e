/* Prelude of every Twinloom kernel source (gpu/kernels/prelude.h).
 *
 * Kernels are written once, in a C subset, and compiled twice:
 *  - by NVRTC at run time for the GPU (TL_CUDA is defined; this prelude is prepended to the source);
 *  - by the host C++ compiler at build time (build.rs, `-include prelude.h`), so CPU-only CI runs the
 *    very same per-item functions and checks them against the Rust CPU path.
 * A kernel file puts its per-item work in TL_DEVICE functions, its launchable entry points under
 * `#ifdef TL_CUDA`, and a host loop over the items under `#ifndef TL_CUDA`.
 */
#ifndef TWINLOOM_KERNEL_PRELUDE_H
#define TWINLOOM_KERNEL_PRELUDE_H

#if defined(__CUDACC_RTC__) || defined(__CUDACC__)
#define TL_CUDA 1
#define TL_DEVICE __device__ __forceinline__
#define TL_GLOBAL extern "C" __global__
#define TL_INFINITY __longlong_as_double(0x7ff0000000000000ULL)
typedef unsigned int tl_u32;
typedef unsigned long long tl_u64;
typedef int tl_i32;
#else
#include <math.h>
#include <stdint.h>
#define TL_DEVICE static inline
#define TL_HOST_EXPORT extern "C"
#define TL_INFINITY INFINITY
typedef uint32_t tl_u32;
typedef uint64_t tl_u64;
typedef int32_t tl_i32;
#endif

#endif
