/*
 * test_model.c
 *	  The weights file (src/core/nn/model.c): every way it can be missing or
 *	  corrupt gives the right status with the path in the message, and
 *	  tensor look-ups check names and shapes.
 */
#include "nn/model.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Copy src to dst, first len bytes, optionally xor one byte at `flip`. */
static bool
copy_file(const char *src, const char *dst, long len, long flip)
{
	size_t		n;
	char	   *buf = (char *) t_read(src, &n);
	FILE	   *f;
	bool		ok;

	if (buf == NULL)
		return false;
	if (len < 0 || (size_t) len > n)
		len = n;
	if (flip >= 0 && flip < len)
		buf[flip] ^= 0x10;
	f = fopen(dst, "wb");
	ok = f != NULL && fwrite(buf, 1, len, f) == (size_t) len;
	if (f != NULL)
		fclose(f);
	free(buf);
	return ok;
}

/* Open path and expect code, with the path named in the message. */
static void
expect_open(const char *what, const char *path, fi_status code)
{
	fi_model   *m = NULL;
	fi_error	err = {0};
	fi_status	s = fi_model_open(path, &m, &err);

	t_check(s == code && m == NULL && strstr(err.msg, path) != NULL,
		  "model %s -> code %d (got %d): %s", what, code, s, err.msg);
	fi_model_close(m);
}

/* Model file error paths and lookups. */
static void
test_model_errors(const fi_model *m, const char *weights)
{
	char		dir[] = "/tmp/faceid_test_XXXXXX";
	char		p[600];
	const float *d;
	fi_error	err = {0};
	int			shape[2] = {256, 128},
				wrong[2] = {128, 256};

	if (mkdtemp(dir) == NULL)
	{
		t_check(false, "mkdtemp");
		return;
	}
	snprintf(p, sizeof(p), "%s/absent.bin", dir);
	expect_open("missing file", p, FI_ERR_MODEL_MISSING);
	expect_open("directory", dir, FI_ERR_MODEL_MISSING);
	snprintf(p, sizeof(p), "%s/trunc.bin", dir);
	copy_file(weights, p, 1000000, -1);
	expect_open("truncated to 1 MB", p, FI_ERR_MODEL_CORRUPT);
	copy_file(weights, p, 100, -1);
	expect_open("truncated to 100 bytes", p, FI_ERR_MODEL_CORRUPT);
	unlink(p);
	snprintf(p, sizeof(p), "%s/flip.bin", dir);
	copy_file(weights, p, -1, 20000000);
	expect_open("with a flipped data byte", p, FI_ERR_MODEL_CORRUPT);
	copy_file(weights, p, -1, 200);
	expect_open("with a flipped table byte", p, FI_ERR_MODEL_CORRUPT);
	copy_file(weights, p, -1, 8);
	expect_open("with another format version", p, FI_ERR_MODEL_CORRUPT);
	copy_file(weights, p, -1, 0);
	expect_open("with a bad magic", p, FI_ERR_MODEL_CORRUPT);
	unlink(p);
	rmdir(dir);

	t_check(fi_model_tensor(m, "recognition/fc", 2, shape, &d, NULL, &err) == FI_OK,
		  "tensor recognition/fc [256,128] found");
	t_check(fi_model_tensor(m, "recognition/fc", 2, wrong, &d, NULL, &err) == FI_ERR_MODEL_CORRUPT,
		  "tensor with an unexpected shape -> FI_ERR_MODEL_CORRUPT (%s)", err.msg);
	t_check(fi_model_tensor(m, "recognition/nope", -1, NULL, &d, NULL, &err) == FI_ERR_MODEL_CORRUPT,
		  "absent tensor -> FI_ERR_MODEL_CORRUPT (%s)", err.msg);
	t_check(strcmp(fi_model_version(m), "face-api-1.7.15") == 0, "model version %s",
		  fi_model_version(m));
}

/* Open the weights, then break copies of them. */
int
main(void)
{
	fi_model   *m;

	if ((m = t_open_model()) == NULL)
		return t_done();
	t_check(true, "open %s: %d tensors, checksum %016llx", t_weights(), fi_model_tensor_count(m),
			(unsigned long long) fi_model_checksum(m));
	test_model_errors(m, t_weights());
	fi_model_close(m);
	return t_done();
}
