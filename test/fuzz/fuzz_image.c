/*
 * fuzz_image.c
 *	  libFuzzer target: image decoding and the embed path.  Any bytes must
 *	  decode cleanly or fail with a core error; a decoded image (within a
 *	  small pixel budget, so runs stay fast) is encoded by the recognition
 *	  net, whose output must be finite.  FACEID_WEIGHTS names the weights
 *	  file (default build/faceid_weights.bin); without it only decoding runs.
 *	  The scaled decode (1/2, 1/4, 1/8, from the first byte) and a region
 *	  at full size run on every input too: they must fail exactly when the
 *	  full decode fails, and give the sizes it implies.
 */
#include "image/image.h"
#include "nn/model.h"
#include "models/recognition.h"
#include "nn/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_MAX_PIXELS (256 * 256)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fi_model *model;
static fi_workspace *ws;
static int	model_tried;

/* Open the model once; NULL when absent. */
static fi_model *
fuzz_model(void)
{
	const char *path = getenv("FACEID_WEIGHTS");
	fi_error	err;

	if (model_tried)
		return model;
	model_tried = 1;
	if (path == NULL)
		path = "build/faceid_weights.bin";
	if (fi_model_open(path, &model, &err) != FI_OK)
	{
		fprintf(stderr, "fuzz_image: no model (%s): decoding only\n", err.msg);
		model = NULL;
	}
	ws = fi_workspace_new();
	return model;
}

/* The scaled decode and a full-size region of the same bytes agree with the full decode. */
static void
fuzz_scaled(const uint8_t *data, size_t size, fi_status full_st, const fi_image *full)
{
	int			scale = size > 0 ? 2 << (data[0] % 3) : 2;
	fi_photo	ph;
	fi_error	err;
	fi_status	st = fi_photo_decode(data, size, FUZZ_MAX_PIXELS, scale, &ph, &err);

	if ((st == FI_OK) != (full_st == FI_OK))
		abort();
	if (st != FI_OK)
	{
		if (ph.img.rgb != NULL)
			abort();
		return;
	}
	if (ph.width != full->width || ph.height != full->height ||
		ph.img.width > full->width || ph.img.height > full->height)
		abort();
	{
		fi_image	r;
		int			w = (full->width + 1) / 2,
					h = (full->height + 1) / 2;

		st = fi_photo_region(&ph, full->width - w, full->height - h, w, h, &r, &err);
		if (st == FI_OK && (r.width != w || r.height != h))
			abort();
		if (st != FI_OK && r.rgb != NULL)
			abort();
		fi_image_free(&r);
	}
	fi_photo_free(&ph);
}

/* One input: decode, then encode what decoded. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fi_image	img;
	fi_error	err;
	fi_status	st = fi_image_decode(data, size, FUZZ_MAX_PIXELS, &img, &err);
	fi_model   *m = fuzz_model();

	fuzz_scaled(data, size, st, &img);
	if (st != FI_OK)
	{
		if (img.rgb != NULL || err.msg[0] == '\0')
			abort();
		return 0;
	}
	if ((int64_t) img.width * img.height > FUZZ_MAX_PIXELS || img.width <= 0 || img.height <= 0)
		abort();
	if (m != NULL)
	{
		float		out[128];

		st = fi_recognition_embed(m, ws, &img, NULL, out, NULL, &err);
		if (st == FI_OK)
			for (int i = 0; i < 128; i++)
				if (!isfinite(out[i]))
					abort();
	}
	fi_image_free(&img);
	return 0;
}
