/*
 * fuzz_image.c
 *	  libFuzzer target for the image decoder: any bytes must decode or fail
 *	  with a status and a message, without crashing, leaking or overrunning.
 *
 *	  clang -g -O1 -fsanitize=fuzzer,address,undefined -I../../src/core \
 *	      fuzz_image.c ../../src/core/image.c ../../src/core/fi_error.c \
 *	      -ljpeg -lpng -o fuzz_image
 *	  ./fuzz_image -max_total_time=60 -rss_limit_mb=2048
 *
 * Seed it with a few JPEG/PNG files (e.g. ../shared/golden/images) as corpus.
 */
#include "image.h"

#include <stdlib.h>

/* One fuzz input: decode it with a 4-megapixel limit and check the contract. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	fi_image	img;
	fi_error	err = {0};
	fi_status	st = fi_image_decode(data, len, 4 * 1000 * 1000, &img, &err);

	if (st == FI_OK && (img.rgb == NULL || img.width <= 0 || img.height <= 0 ||
						(int64_t) img.width * img.height > 4 * 1000 * 1000))
		abort();
	if (st != FI_OK && (img.rgb != NULL || err.code != st || err.msg[0] == '\0'))
		abort();
	if (st == FI_OK)
	{
		/* touch the last byte so ASan checks the buffer's size */
		volatile uint8_t last = img.rgb[(size_t) img.width * img.height * 3 - 1];

		(void) last;
	}
	fi_image_free(&img);
	return 0;
}
