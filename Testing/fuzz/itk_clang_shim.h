/*
 * itk_clang_shim.h - force-included into Logic/io/imageio.cxx in the libFuzzer build only
 * (-DQSMRIM_FUZZ=ON, clang). Debian's ITK 5.2 was configured with GCC, and its generated
 * itk_compiler_detection.h knows no other compiler ("#error Unsupported compiler"). The header is
 * read here once, with clang presenting itself as the GCC 12 that built ITK; its include guard keeps
 * ITK from reading it again. Nothing else of the build changes.
 */
#if defined(__clang__) && !defined(ITK_COMPILER_DETECTION_H)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wbuiltin-macro-redefined"
#pragma clang diagnostic ignored "-Wmacro-redefined"
#undef __clang__
#undef __GNUC__
#undef __GNUC_MINOR__
#define __GNUC__ 12
#define __GNUC_MINOR__ 2
#include <itk_compiler_detection.h>
#undef __GNUC__
#undef __GNUC_MINOR__
#define __GNUC__ 4
#define __GNUC_MINOR__ 2
#define __clang__ 1
#pragma clang diagnostic pop
#endif
