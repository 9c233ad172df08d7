/*
 * blas.c
 *	  Choose OpenBLAS's kernel set from cpuid, then dlopen the serial library
 *	  and resolve the few symbols the core uses.  See blas.h.
 */
#include "nn/blas.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fi_blas g_blas;
static bool g_loaded;
static void *g_handle;

/* XCR0 via xgetbv (only call when OSXSAVE is set). */
static uint64_t
read_xcr0(void)
{
	uint32_t	lo,
				hi;

	__asm__ volatile ("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t) hi << 32) | lo;
}

/* Kernel set whose instructions cpuid and the OS both confirm. */
const char *
fi_blas_pick_coretype(char *features, size_t flen)
{
	unsigned	a,
				b,
				c,
				d,
				b7 = 0;
	bool		osxsave,
				avx,
				fma,
				avx2,
				f512,
				ymm_os = false,
				zmm_os = false;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return NULL;
	osxsave = (c >> 27) & 1;
	avx = (c >> 28) & 1;
	fma = (c >> 12) & 1;
	if (__get_cpuid_count(7, 0, &a, &b7, &c, &d) == 0)
		b7 = 0;
	avx2 = (b7 >> 5) & 1;
	/* AVX512F (16), DQ (17), BW (30), VL (31) */
	f512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1);
	if (osxsave)
	{
		uint64_t	xcr0 = read_xcr0();

		ymm_os = (xcr0 & 0x6) == 0x6;	/* SSE + AVX state */
		zmm_os = (xcr0 & 0xe6) == 0xe6; /* + opmask, ZMM_Hi256, Hi16_ZMM */
	}
	if (features != NULL)
		snprintf(features, flen, "%s%s%s%s%s",
				 avx && ymm_os ? "avx " : "", fma && ymm_os ? "fma " : "",
				 avx2 && ymm_os ? "avx2 " : "",
				 f512 && zmm_os ? "avx512f avx512dq avx512bw avx512vl " : "",
				 osxsave ? "osxsave" : "");
	if (f512 && zmm_os && avx2 && fma)
		return "SkylakeX";
	if (avx2 && fma && avx && ymm_os)
		return "Haswell";
	return NULL;
}

/* Resolve one symbol or fail naming it. */
static void *
need_sym(const char *name, fi_error *err)
{
	void	   *p = dlsym(g_handle, name);

	if (p == NULL)
		fi_set_error(err, FI_ERR_INTERNAL, "OpenBLAS library \"%s\" lacks symbol %s",
					 g_blas.path, name);
	return p;
}

/* Copy a string into a fixed buffer, always terminated. */
static void
copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src != NULL ? src : "");
}

/* Pick the kernel set, dlopen OpenBLAS and resolve its symbols (once). */
fi_status
fi_blas_load(const fi_blas **out, fi_error *err)
{
	const char *path = getenv("FACEID_OPENBLAS");
	const char *env,
			   *pick;
	char	   *(*get_corename) (void);
	char	   *(*get_config) (void);
	int			(*get_parallel) (void);

	if (out != NULL)
		*out = NULL;
	if (g_loaded)
	{
		if (out != NULL)
			*out = &g_blas;
		return FI_OK;
	}
	memset(&g_blas, 0, sizeof(g_blas));
	copy_str(g_blas.path, sizeof(g_blas.path), path != NULL && path[0] ? path : FI_OPENBLAS_PATH);

	pick = fi_blas_pick_coretype(g_blas.cpu_features, sizeof(g_blas.cpu_features));
	env = getenv("OPENBLAS_CORETYPE");
	if (env != NULL && env[0] != '\0')
	{
		copy_str(g_blas.coretype, sizeof(g_blas.coretype), env);
		copy_str(g_blas.coretype_origin, sizeof(g_blas.coretype_origin),
				 "from the environment (respected)");
	}
	else if (pick != NULL)
	{
		setenv("OPENBLAS_CORETYPE", pick, 1);
		copy_str(g_blas.coretype, sizeof(g_blas.coretype), pick);
		snprintf(g_blas.coretype_origin, sizeof(g_blas.coretype_origin),
				 "set by faceid from cpuid");
	}
	else
		copy_str(g_blas.coretype_origin, sizeof(g_blas.coretype_origin),
				 "unset: OpenBLAS detects the CPU itself");

	g_handle = dlopen(g_blas.path, RTLD_NOW | RTLD_LOCAL);
	if (g_handle == NULL)
		return fi_set_error(err, FI_ERR_INTERNAL, "could not load OpenBLAS \"%s\": %s",
							g_blas.path, dlerror());
	if ((g_blas.sgemm = (fi_sgemm_fn) need_sym("cblas_sgemm", err)) == NULL ||
		(g_blas.ssysv = (fi_ssysv_fn) need_sym("ssysv_", err)) == NULL ||
		(g_blas.sposv = (fi_sposv_fn) need_sym("sposv_", err)) == NULL ||
		(g_blas.dposv = (fi_dposv_fn) need_sym("dposv_", err)) == NULL ||
		(g_blas.dsyrk = (fi_dsyrk_fn) need_sym("dsyrk_", err)) == NULL ||
		(get_corename = (char *(*) (void)) need_sym("openblas_get_corename", err)) == NULL ||
		(get_config = (char *(*) (void)) need_sym("openblas_get_config", err)) == NULL ||
		(get_parallel = (int (*) (void)) need_sym("openblas_get_parallel", err)) == NULL)
		goto fail;
	if (get_parallel() != 0)
	{
		fi_set_error(err, FI_ERR_INTERNAL,
					 "OpenBLAS \"%s\" is a threaded build (openblas_get_parallel() = %d); "
					 "faceid needs the serial one (libopenblas-serial-dev)",
					 g_blas.path, get_parallel());
		goto fail;
	}
	copy_str(g_blas.corename, sizeof(g_blas.corename), get_corename());
	copy_str(g_blas.config, sizeof(g_blas.config), get_config());
	g_loaded = true;
	if (out != NULL)
		*out = &g_blas;
	return FI_OK;

fail:
	dlclose(g_handle);
	g_handle = NULL;
	memset(&g_blas, 0, sizeof(g_blas));
	return err != NULL ? err->code : FI_ERR_INTERNAL;
}

/* The loaded state, or NULL. */
const fi_blas *
fi_blas_get(void)
{
	return g_loaded ? &g_blas : NULL;
}
