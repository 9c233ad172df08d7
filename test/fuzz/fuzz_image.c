/*
 * fuzz_image.c
 *	  libFuzzer target: image decoding and the embed path.  Any bytes must
 *	  decode cleanly or fail with a core error; a decoded image (within a
 *	  small pixel budget, so runs stay fast) is encoded by the recognition
 *	  net, whose output must be finite.  FACEID_WEIGHTS names the weights
 *	  file (default build/faceid_weights.bin); without it only decoding runs.
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

/* One input: decode, then encode what decoded. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fi_image	img;
	fi_error	err;
	fi_status	st = fi_image_decode(data, size, FUZZ_MAX_PIXELS, &img, &err);
	fi_model   *m = fuzz_model();

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
