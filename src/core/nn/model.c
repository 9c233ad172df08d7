/*
 * model.c
 *	  mmap the weights file read-only (MAP_SHARED, so every backend shares the
 *	  page cache copy), validate header, table and checksum, and look tensors
 *	  up by name through a sorted index.  Format: src/tools/convert_weights.js.
 */
#include "nn/model.h"

#include "models/recognition.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE 128
#define ENTRY_SIZE 128
#define NAME_MAX_LEN 80
static const char MAGIC[8] = "FACEIDW";		/* plus its NUL */

typedef struct fi_model_entry
{
	const char *name;			/* points into the mapping, NUL-terminated */
	int			ndim;
	int			dims[FI_MODEL_MAX_DIMS];
	const float *data;
	uint64_t	count;
} fi_model_entry;

struct fi_model
{
	char	   *path;
	const uint8_t *base;
	size_t		size;
	uint64_t	checksum;
	char		version[33];
	int			n;
	fi_model_entry *idx;		/* sorted by name */
	int			nderived;
	fi_model_entry derived[FI_MODEL_MAX_DERIVED];	/* owned name and data */
};

/* Little-endian loads from the mapping (the file is LE, memcpy avoids UB). */
static uint32_t
rd32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return v;
}

/* 64-bit little-endian load, as rd32. */
static uint64_t
rd64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, 8);
	return v;
}

/* FNV-1a 64 over the u64 words of [p, p+n), n a multiple of 8. */
static uint64_t
fnv1a64w(const uint8_t *p, size_t n)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i += 8)
		h = (h ^ rd64(p + i)) * 0x100000001b3ULL;
	return h;
}

/* qsort/bsearch comparator on entry names. */
static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const fi_model_entry *) a)->name,
				  ((const fi_model_entry *) b)->name);
}

/* Free everything a (possibly half-built) model holds. */
void
fi_model_close(fi_model *m)
{
	if (m == NULL)
		return;
	if (m->base != NULL)
		munmap((void *) m->base, m->size);
	for (int i = 0; i < m->nderived; i++)
	{
		free((char *) m->derived[i].name);
		free((float *) m->derived[i].data);
	}
	free(m->idx);
	free(m->path);
	free(m);
}

/* Validate the header and table of a mapped file and build the index. */
static fi_status
model_validate(fi_model *m, fi_error *err)
{
	const uint8_t *b = m->base;
	const char *path = m->path;
	uint64_t	total,
				table_off,
				data_off;

	if (m->size < HEADER_SIZE)
		return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
							"model file \"%s\" is truncated: %zu bytes, shorter than its header",
							path, m->size);
	if (memcmp(b, MAGIC, 8) != 0)
		return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
							"model file \"%s\" is not a faceid weights file (bad magic)", path);
	if (rd32(b + 8) != FI_MODEL_FORMAT_VERSION)
		return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
							"model file \"%s\" has format version %u, expected %d",
							path, rd32(b + 8), FI_MODEL_FORMAT_VERSION);
	total = rd64(b + 16);
	if (total != m->size)
		return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
							"model file \"%s\" is %zu bytes, its header says %llu (truncated or padded)",
							path, m->size, (unsigned long long) total);
	memcpy(m->version, b + 48, 32);
	m->version[32] = '\0';
	if (strcmp(m->version, FI_MODEL_VERSION) != 0)
		return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
							"model file \"%s\" holds model version \"%.32s\", expected \"%s\"",
							path, m->version, FI_MODEL_VERSION);
	m->n = (int) rd32(b + 12);
	table_off = rd64(b + 32);
	data_off = rd64(b + 40);
	if (table_off != HEADER_SIZE || m->n <= 0 || m->n > 100000 ||
		data_off < table_off + (uint64_t) m->n * ENTRY_SIZE || data_off > total ||
		data_off % 64 != 0 || total % 8 != 0)
		return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
							"model file \"%s\" has an inconsistent header", path);
	m->checksum = rd64(b + 24);
	if (fnv1a64w(b + HEADER_SIZE, total - HEADER_SIZE) != m->checksum)
		return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
							"model file \"%s\" fails its checksum (corrupted)", path);

	m->idx = calloc(m->n, sizeof(fi_model_entry));
	if (m->idx == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory loading model file \"%s\"", path);
	for (int i = 0; i < m->n; i++)
	{
		const uint8_t *e = b + table_off + (uint64_t) i * ENTRY_SIZE;
		fi_model_entry *t = &m->idx[i];
		uint64_t	off = rd64(e + 112),
					prod = 1;

		if (memchr(e, '\0', NAME_MAX_LEN) == NULL || e[0] == '\0')
			return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
								"model file \"%s\": tensor %d has a bad name", path, i);
		t->name = (const char *) e;
		t->ndim = (int) rd32(e + 80);
		t->count = rd64(e + 120);
		if (t->ndim < 0 || t->ndim > FI_MODEL_MAX_DIMS)
			return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
								"model file \"%s\": tensor \"%s\" has %d dims", path, t->name, t->ndim);
		for (int d = 0; d < t->ndim; d++)
		{
			t->dims[d] = (int) rd32(e + 84 + 4 * d);
			prod *= (uint64_t) t->dims[d];
		}
		if (prod != t->count || off % 64 != 0 || off < data_off ||
			t->count > (total - off) / 4)
			return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
								"model file \"%s\": tensor \"%s\" has a bad shape or offset",
								path, t->name);
		t->data = (const float *) (b + off);
	}
	qsort(m->idx, m->n, sizeof(fi_model_entry), entry_cmp);
	for (int i = 1; i < m->n; i++)
		if (strcmp(m->idx[i - 1].name, m->idx[i].name) == 0)
			return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
								"model file \"%s\": tensor \"%s\" appears twice", path, m->idx[i].name);
	return FI_OK;
}

/* Open, map and validate the weights file. */
fi_status
fi_model_open(const char *path, fi_model **out, fi_error *err)
{
	fi_model   *m;
	struct stat st;
	int			fd;
	fi_status	s;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return fi_set_error(err, FI_ERR_MODEL_MISSING, "model file path is empty");
	m = calloc(1, sizeof(fi_model));
	if (m == NULL || (m->path = strdup(path)) == NULL)
	{
		free(m);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory opening model file \"%s\"", path);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		s = fi_set_error(err, FI_ERR_MODEL_MISSING, "could not open model file \"%s\": %s",
						 path, strerror(errno));
		fi_model_close(m);
		return s;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		s = fi_set_error(err, FI_ERR_MODEL_MISSING, "model file \"%s\" is not a readable regular file",
						 path);
		close(fd);
		fi_model_close(m);
		return s;
	}
	m->size = (size_t) st.st_size;
	if (m->size >= HEADER_SIZE)
	{
		void	   *p = mmap(NULL, m->size, PROT_READ, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED)
		{
			s = fi_set_error(err, FI_ERR_MODEL_MISSING, "could not map model file \"%s\": %s",
							 path, strerror(errno));
			close(fd);
			fi_model_close(m);
			return s;
		}
		m->base = p;
	}
	close(fd);
	s = model_validate(m, err);
	if (s == FI_OK)
		s = fi_recognition_prepare(m, err);
	if (s != FI_OK)
	{
		fi_model_close(m);
		return s;
	}
	*out = m;
	return FI_OK;
}

/* Attach a derived tensor (the model owns name and data from here on). */
fi_status
fi_model_add_derived(fi_model *m, const char *name, float *data, int ndim, const int *dims,
					 fi_error *err)
{
	fi_model_entry *t = &m->derived[m->nderived];
	uint64_t	count = 1;

	if (m->nderived == FI_MODEL_MAX_DERIVED || ndim < 0 || ndim > FI_MODEL_MAX_DIMS)
	{
		free(data);
		return fi_set_error(err, FI_ERR_INTERNAL, "model \"%s\": too many derived tensors", m->path);
	}
	if ((t->name = strdup(name)) == NULL)
	{
		free(data);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory preparing model file \"%s\"", m->path);
	}
	t->ndim = ndim;
	for (int d = 0; d < ndim; d++)
		count *= (uint64_t) (t->dims[d] = dims[d]);
	t->count = count;
	t->data = data;
	m->nderived++;
	return FI_OK;
}

/* A tensor of the file, else a derived one; NULL when neither has the name. */
static const fi_model_entry *
find_entry(const fi_model *m, const char *name)
{
	fi_model_entry key = {.name = name};
	const fi_model_entry *t = bsearch(&key, m->idx, m->n, sizeof(fi_model_entry), entry_cmp);

	for (int i = 0; t == NULL && i < m->nderived; i++)
		if (strcmp(m->derived[i].name, name) == 0)
			t = &m->derived[i];
	return t;
}

/* True when the file or the derived tensors hold `name`. */
bool
fi_model_has(const fi_model *m, const char *name)
{
	return find_entry(m, name) != NULL;
}

/* Look a tensor up by name and check its shape. */
fi_status
fi_model_tensor(const fi_model *m, const char *name, int ndim, const int *shape,
				const float **data, int *dims_out, fi_error *err)
{
	const fi_model_entry *t = find_entry(m, name);

	if (t == NULL)
		return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
							"model file \"%s\" has no tensor \"%s\"", m->path, name);
	if (ndim >= 0)
	{
		bool		ok = (t->ndim == ndim);

		for (int d = 0; ok && d < ndim; d++)
			ok = (shape[d] < 0 || shape[d] == t->dims[d]);
		if (!ok)
			return fi_set_error(err, FI_ERR_MODEL_CORRUPT,
								"model file \"%s\": tensor \"%s\" does not have the expected shape",
								m->path, name);
	}
	if (dims_out != NULL)
		memcpy(dims_out, t->dims, sizeof(t->dims));
	*data = t->data;
	return FI_OK;
}

/* The path the model was opened from. */
const char *
fi_model_path(const fi_model *m)
{
	return m->path;
}

/* The model version string of the file. */
const char *
fi_model_version(const fi_model *m)
{
	return m->version;
}

/* The verified payload checksum. */
uint64_t
fi_model_checksum(const fi_model *m)
{
	return m->checksum;
}

/* Number of tensors in the file. */
int
fi_model_tensor_count(const fi_model *m)
{
	return m->n;
}

/* Size of the file in bytes. */
uint64_t
fi_model_size(const fi_model *m)
{
	return m->size;
}
