/* bench.h - the benchmarks behind `qsmrim bench` (argv starts at the benchmark's name). */
#ifndef QR_BENCH_H
#define QR_BENCH_H
int bench_cnn(int argc, char **argv);       /* bench_cnn.c */
int bench_radiomics(int argc, char **argv); /* bench_radiomics.c */
int bench_predict(int argc, char **argv);   /* bench_predict.c */
int bench_patches(int argc, char **argv);   /* bench_patches.c */
#endif
