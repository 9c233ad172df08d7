/*
 * blas.h
 *	  OpenBLAS (serial) loaded at run time with dlopen, after choosing its
 *	  kernel set: OpenBLAS 0.3.21 misdetects new CPUs and falls back to slow
 *	  generic kernels, so when OPENBLAS_CORETYPE is unset we set it from cpuid
 *	  (AVX-512F/BW/DQ/VL with OS support -> SkylakeX, AVX2+FMA -> Haswell).
 *	  A value that is already set is respected.
 */
#ifndef FI_BLAS_H
#define FI_BLAS_H

#include "fi_core.h"

/* Default library; override with the env FACEID_OPENBLAS or -DFI_OPENBLAS_PATH. */
#ifndef FI_OPENBLAS_PATH
#define FI_OPENBLAS_PATH "/usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0"
#endif

/* CBLAS enum values (cblas.h), so no OpenBLAS header is needed. */
enum { FI_CBLAS_ROW_MAJOR = 101, FI_CBLAS_NO_TRANS = 111, FI_CBLAS_TRANS = 112 };

typedef void (*fi_sgemm_fn) (int order, int ta, int tb, int m, int n, int k,
							 float alpha, const float *a, int lda,
							 const float *b, int ldb, float beta, float *c, int ldc);
/* LAPACK (Fortran ABI, trailing hidden string length) */
typedef void (*fi_ssysv_fn) (const char *uplo, const int *n, const int *nrhs, float *a,
							 const int *lda, int *ipiv, float *b, const int *ldb,
							 float *work, const int *lwork, int *info, size_t uplo_len);
typedef void (*fi_sposv_fn) (const char *uplo, const int *n, const int *nrhs, float *a,
							 const int *lda, float *b, const int *ldb, int *info,
							 size_t uplo_len);
/* double precision, for the verifier's Newton step (src/verify_train.c) */
typedef void (*fi_dposv_fn) (const char *uplo, const int *n, const int *nrhs, double *a,
							 const int *lda, double *b, const int *ldb, int *info,
							 size_t uplo_len);
typedef void (*fi_dsyrk_fn) (const char *uplo, const char *trans, const int *n, const int *k,
							 const double *alpha, const double *a, const int *lda,
							 const double *beta, double *c, const int *ldc,
							 size_t uplo_len, size_t trans_len);

typedef struct fi_blas
{
	fi_sgemm_fn sgemm;			/* cblas_sgemm */
	fi_ssysv_fn ssysv;			/* ssysv_ */
	fi_sposv_fn sposv;			/* sposv_ */
	fi_dposv_fn dposv;			/* dposv_ */
	fi_dsyrk_fn dsyrk;			/* dsyrk_ */
	char		path[256];		/* library loaded */
	char		corename[64];	/* openblas_get_corename(): kernel set running */
	char		config[256];	/* openblas_get_config() */
	char		coretype[64];	/* OPENBLAS_CORETYPE at load ("" = unset) */
	char		coretype_origin[96];	/* "set by faceid from cpuid (...)" / "from the environment" / ... */
	char		cpu_features[128];	/* what cpuid + xgetbv confirmed */
} fi_blas;

/*
 * Load OpenBLAS once per process (later calls return the same state).
 * FI_ERR_INTERNAL when the library is missing, lacks a symbol or is threaded.
 */
fi_status	fi_blas_load(const fi_blas **out, fi_error *err);

/* The loaded state, or NULL before a successful fi_blas_load. */
const fi_blas *fi_blas_get(void);

/* Kernel set cpuid allows on this CPU: "SkylakeX", "Haswell" or NULL. */
const char *fi_blas_pick_coretype(char *features, size_t features_len);

#endif							/* FI_BLAS_H */
