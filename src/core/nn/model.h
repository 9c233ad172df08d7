/*
 * model.h
 *	  The converted weights file (src/tools/convert_weights.js), mapped
 *	  read-only and shared: open, validate, look tensors up by name.
 */
#ifndef FI_MODEL_H
#define FI_MODEL_H

#include "fi_core.h"

#define FI_MODEL_FORMAT_VERSION 1
#define FI_MODEL_VERSION "face-api-1.7.15"
#define FI_MODEL_MAX_DIMS 6
/* Tensors computed from the file's when it is opened (the encoder's Winograd filters). */
#define FI_MODEL_MAX_DERIVED 32

typedef struct fi_model fi_model;

/*
 * Map and validate the weights file, then derive what the nets precompute
 * (fi_recognition_prepare); *out is set only on FI_OK.
 */
fi_status	fi_model_open(const char *path, fi_model **out, fi_error *err);

/* Unmap and free (NULL is fine). */
void		fi_model_close(fi_model *m);

/*
 * Find tensor `name` and check its shape: ndim dims equal to shape[]
 * (a shape entry < 0 matches anything).  Dims are reported in dims_out when
 * not NULL.  FI_ERR_MODEL_CORRUPT naming the path when absent or mis-shaped.
 */
fi_status	fi_model_tensor(const fi_model *m, const char *name, int ndim,
							const int *shape, const float **data, int *dims_out,
							fi_error *err);

/*
 * Attach a tensor computed from the file's (found by fi_model_tensor after
 * the file's own); the model owns name's copy and data (malloc'd) from here
 * on, and frees data even when this fails.
 */
fi_status	fi_model_add_derived(fi_model *m, const char *name, float *data, int ndim,
								 const int *dims, fi_error *err);

/* True when the file or the derived tensors hold a tensor `name`. */
bool		fi_model_has(const fi_model *m, const char *name);

/* The path the model was opened from. */
const char *fi_model_path(const fi_model *m);

/* The model version string stored in the file ("face-api-1.7.15"). */
const char *fi_model_version(const fi_model *m);

/* The payload checksum (FNV-1a 64 over u64 words), as stored and verified. */
uint64_t	fi_model_checksum(const fi_model *m);

/* Number of tensors and total file size. */
int			fi_model_tensor_count(const fi_model *m);
uint64_t	fi_model_size(const fi_model *m);

#endif							/* FI_MODEL_H */
