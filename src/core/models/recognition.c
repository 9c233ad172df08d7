/*
 * recognition.c
 *	  The recognition net as a short description over the layers of layers.c:
 *	  a 7x7 stem, a max pool, then residual blocks (spec 2.2, 2.3).
 */
#include "models/recognition.h"

#include "nn/layers.h"
#include "nn/netops.h"
#include "nn/winograd.h"

/* vectorise the element-wise loops at -O3 (see layers.c) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3")
#endif

#include <stdio.h>
#include <stdlib.h>

/* Workspace slots: 0 input, 1..3 activations (FI_WS_IM2COL is the layers'). */
enum { SLOT_IN = 0, SLOT_A = 1 };

/* The residual blocks, in order: name, in/out channels, downsampling. */
static const struct
{
	const char *name;
	int			cin,
				cout;
	bool		down;
} blocks[] = {
	{"conv32_1", 32, 32, false}, {"conv32_2", 32, 32, false}, {"conv32_3", 32, 32, false},
	{"conv64_down", 32, 64, true},
	{"conv64_1", 64, 64, false}, {"conv64_2", 64, 64, false}, {"conv64_3", 64, 64, false},
	{"conv128_down", 64, 128, true},
	{"conv128_1", 128, 128, false}, {"conv128_2", 128, 128, false},
	{"conv256_down", 128, 256, true},
	{"conv256_1", 256, 256, false}, {"conv256_2", 256, 256, false},
	{"conv256_down_out", 256, 256, true},
};

/*
 * Widest 3x3 stride-1 convs that run by Winograd.  Measured (bench_recognition
 * --profile): at 3x3 pixels and 256 channels the layer is bound by reading
 * its weights, and the transformed filters are 16/9 their size.
 */
#ifndef WINO_MAX_C
#define WINO_MAX_C 128
#endif

/* Name of the transformed filters of conv `name`. */
#define WINO_SUFFIX "/filters@wino"

/* Largest activation: the stem output, 72x72x32. */
#define MAX_ACT (72 * 72 * 32)

/* Look up a folded conv "recognition/<name>/{filters,bias}" of the given shape. */
static fi_status
get_conv(const fi_model *m, const char *name, int k, int cin, int cout, fi_conv *cv,
		 fi_error *err)
{
	char		buf[128];
	int			wshape[4] = {k, k, cin, cout};
	fi_status	s;

	snprintf(buf, sizeof(buf), "recognition/%s/filters", name);
	if ((s = fi_model_tensor(m, buf, 4, wshape, &cv->w, NULL, err)) != FI_OK)
		return s;
	snprintf(buf, sizeof(buf), "recognition/%s/bias", name);
	if ((s = fi_model_tensor(m, buf, 1, &cout, &cv->b, NULL, err)) != FI_OK)
		return s;
	cv->k = k;
	cv->cin = cin;
	cv->cout = cout;
	return FI_OK;
}

/* Transform the filters of one 3x3 stride-1 conv and attach them to the model. */
static fi_status
prepare_wino(fi_model *m, const char *name, int c, fi_error *err)
{
	char		buf[128];
	int			wshape[4] = {3, 3, c, c},
				ushape[3] = {FI_WINO_POINTS, c, c};
	const float *w;
	float	   *u;

	snprintf(buf, sizeof(buf), "recognition/%s/filters", name);
	if (fi_model_tensor(m, buf, 4, wshape, &w, NULL, NULL) != FI_OK)
		return FI_OK;			/* not this net's file: forward reports it */
	u = malloc(sizeof(float) * FI_WINO_POINTS * c * c);
	if (u == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory preparing the recognition net");
	fi_wino_filter(w, c, c, u);
	snprintf(buf, sizeof(buf), "recognition/%s" WINO_SUFFIX, name);
	return fi_model_add_derived(m, buf, u, 3, ushape, err);
}

/* Winograd filters of every 3x3 stride-1 conv up to WINO_MAX_C channels. */
fi_status
fi_recognition_prepare(fi_model *m, fi_error *err)
{
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
	{
		char		n[64];
		fi_status	s;

		if (blocks[i].cout > WINO_MAX_C)
			continue;
		snprintf(n, sizeof(n), "%s/conv1", blocks[i].name);
		if (!blocks[i].down && (s = prepare_wino(m, n, blocks[i].cout, err)) != FI_OK)
			return s;
		snprintf(n, sizeof(n), "%s/conv2", blocks[i].name);
		if ((s = prepare_wino(m, n, blocks[i].cout, err)) != FI_OK)
			return s;
	}
	return FI_OK;
}

/*
 * convLayer: folded conv (+ residual res, + relu) of the n images of `in`
 * (stored one after another) into workspace slot `slot`.
 */
static fi_status
conv_layer(const fi_model *m, fi_workspace *ws, const char *name, int k, int stride,
		   fi_padding pad, fi_act act, const fi_tensor *res, int cout, const fi_tensor *in,
		   int n, int slot, fi_tensor *out, const fi_cancel *c, fi_error *err)
{
	fi_conv		cv;
	char		wname[128];
	const float *u;
	fi_status	s;

	if ((s = get_conv(m, name, k, in->c, cout, &cv, err)) != FI_OK)
		return s;
	cv.stride = stride;
	cv.pad = fi_pads_for(pad, in->h, in->w, k, stride);
	cv.act = act;
	cv.res = res != NULL ? res->data : NULL;
	if ((s = fi_ws_tensor(ws, slot, 1, n, MAX_ACT, out, err)) != FI_OK)
		return s;
	snprintf(wname, sizeof(wname), "recognition/%s" WINO_SUFFIX, name);
	if (k == 3 && stride == 1 && fi_wino_ok(&cv, in) && fi_model_has(m, wname))
	{
		int			ushape[3] = {FI_WINO_POINTS, in->c, cout};

		if ((s = fi_model_tensor(m, wname, 3, ushape, &u, NULL, err)) != FI_OK)
			return s;
		return fi_conv2d_wino(ws, &cv, u, in, n, out, c, err);
	}
	return fi_conv2d_n(ws, &cv, in, n, out, c, err);
}

/*
 * residualDown merge: out = relu(avgpool2x2(x) with zero channels appended
 * + h zero-padded at bottom/right to the pooled size).
 */
static void
down_merge(const fi_tensor *x, const fi_tensor *h, fi_tensor *out)
{
	int			C = h->c;

	out->h = (x->h - 2) / 2 + 1;
	out->w = (x->w - 2) / 2 + 1;
	out->c = C;
	for (int oy = 0; oy < out->h; oy++)
		for (int ox = 0; ox < out->w; ox++)
		{
			const float *a = x->data + ((size_t) (2 * oy) * x->w + 2 * ox) * x->c;
			const float *b = a + x->c;
			const float *d = a + (size_t) x->w * x->c;
			const float *e = d + x->c;
			const float *hv = (oy < h->h && ox < h->w) ?
				h->data + ((size_t) oy * h->w + ox) * C : NULL;
			float	   *y = out->data + ((size_t) oy * out->w + ox) * C;

			for (int ch = 0; ch < C; ch++)
			{
				float		p = ch < x->c ? (a[ch] + b[ch] + d[ch] + e[ch]) / 4.0f : 0.0f;
				float		v = p + (hv != NULL ? hv[ch] : 0.0f);

				y[ch] = v > 0.0f ? v : 0.0f;
			}
		}
}

/* down_merge of each of n images stored one after another. */
static void
down_merge_n(const fi_tensor *x, const fi_tensor *h, int n, fi_tensor *out)
{
	for (int i = 0; i < n; i++)
	{
		fi_tensor	xi = *x,
					hi = *h,
					oi = *out;

		xi.data += (size_t) i * fi_tensor_size(x);
		hi.data += (size_t) i * fi_tensor_size(h);
		oi.data += (size_t) i * ((x->h - 2) / 2 + 1) * ((x->w - 2) / 2 + 1) * h->c;
		down_merge(&xi, &hi, &oi);
		*out = (fi_tensor) {oi.h, oi.w, oi.c, out->data};
	}
}

/* Report a layer to the hook, if any. */
static void
report(fi_layer_hook hook, void *arg, const char *name, const fi_tensor *t)
{
	if (hook != NULL)
		hook(arg, name, t);
}

/* The net on a normalised 150x150x3 input. */
fi_status
fi_recognition_forward(const fi_model *m, fi_workspace *ws, const float *input,
					   float out[FI_REC_DIM], fi_layer_hook hook, void *hook_arg,
					   const fi_cancel *c, fi_error *err)
{
	return fi_recognition_forward_n(m, ws, input, 1, out, hook, hook_arg, c, err);
}

/* Global average over the final positions, then fc 256 -> 128 without bias, per image. */
static fi_status
head(const fi_model *m, const fi_tensor *t, int n, float *out, fi_layer_hook hook,
	 void *hook_arg, fi_error *err)
{
	int			npos = t->h * t->w;
	float		avg[256];
	const float *fcw;
	int			fcshape[2] = {256, FI_REC_DIM};
	fi_status	s;

	if (t->c != 256)
		return fi_set_error(err, FI_ERR_INTERNAL, "recognition: unexpected final shape");
	if ((s = fi_model_tensor(m, "recognition/fc", 2, fcshape, &fcw, NULL, err)) != FI_OK)
		return s;
	for (int i = 0; i < n; i++)
	{
		const float *x = t->data + (size_t) i * npos * 256;
		fi_tensor	g = {1, 1, 256, avg},
					d = {1, 1, FI_REC_DIM, out + (size_t) i * FI_REC_DIM};

		for (int ch = 0; ch < 256; ch++)
		{
			float		sum = 0.0f;

			for (int p = 0; p < npos; p++)
				sum += x[(size_t) p * 256 + ch];
			avg[ch] = sum / (float) npos;
		}
		if (i == 0)
			report(hook, hook_arg, "global_avg", &g);
		fi_fc(avg, 256, fcw, NULL, FI_REC_DIM, d.data);
		if (i == 0)
			report(hook, hook_arg, "descriptor", &d);
	}
	return FI_OK;
}

/* The net on n normalised inputs at once (the hook sees the first image's layers). */
fi_status
fi_recognition_forward_n(const fi_model *m, fi_workspace *ws, const float *input, int n,
						 float *out, fi_layer_hook hook, void *hook_arg,
						 const fi_cancel *c, fi_error *err)
{
	fi_tensor	in = {FI_REC_SIZE, FI_REC_SIZE, 3, (float *) input};
	fi_tensor	t[3];			/* activations in slots SLOT_A + 0..2 */
	int			x,				/* index of the current activation in t[] */
				h1,
				h2;
	fi_status	s;

	if (n < 1 || n > FI_REC_MAX_BATCH)
		return fi_set_error(err, FI_ERR_INTERNAL, "recognition: batch of %d images", n);
	if ((s = fi_blas_load(NULL, err)) != FI_OK)
		return s;
	report(hook, hook_arg, "input_normalized", &in);

	/* stem: 7x7/2 VALID conv + relu, 3x3/2 VALID max pool */
	if ((s = conv_layer(m, ws, "conv32_down", 7, 2, FI_PAD_VALID, FI_ACT_RELU, NULL, 32,
						&in, n, SLOT_A, &t[0], c, err)) != FI_OK)
		return s;
	report(hook, hook_arg, "conv32_down", &t[0]);
	if ((s = fi_ws_tensor(ws, SLOT_A + 1, 1, n, MAX_ACT, &t[1], err)) != FI_OK)
		return s;
	for (int i = 0; i < n; i++)
	{
		fi_tensor	a = t[0],
					b = t[1];

		a.data += (size_t) i * fi_tensor_size(&t[0]);
		b.data += (size_t) i * ((t[0].h - 3) / 2 + 1) * ((t[0].w - 3) / 2 + 1) * t[0].c;
		fi_maxpool(&a, 3, 2, fi_pads_for(FI_PAD_VALID, a.h, a.w, 3, 2), &b);
		t[1] = (fi_tensor) {b.h, b.w, b.c, t[1].data};
	}
	report(hook, hook_arg, "maxpool", &t[1]);
	x = 1;

	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
	{
		char		n1[64],
					n2[64];

		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		snprintf(n1, sizeof(n1), "%s/conv1", blocks[i].name);
		snprintf(n2, sizeof(n2), "%s/conv2", blocks[i].name);
		h1 = (x + 1) % 3;
		h2 = (x + 2) % 3;
		if ((s = conv_layer(m, ws, n1, 3, blocks[i].down ? 2 : 1,
							blocks[i].down ? FI_PAD_VALID : FI_PAD_SAME, FI_ACT_RELU, NULL,
							blocks[i].cout, &t[x], n, SLOT_A + h1, &t[h1], c, err)) != FI_OK)
			return s;
		if (blocks[i].down)
		{
			if ((s = conv_layer(m, ws, n2, 3, 1, FI_PAD_SAME, FI_ACT_NONE, NULL,
								blocks[i].cout, &t[h1], n, SLOT_A + h2, &t[h2], c, err)) != FI_OK)
				return s;
			down_merge_n(&t[x], &t[h2], n, &t[h1]);
			x = h1;
		}
		else
		{
			/* residual: relu(conv2(h) + x), the add and relu fused into the conv's store */
			if ((s = conv_layer(m, ws, n2, 3, 1, FI_PAD_SAME, FI_ACT_RELU, &t[x],
								blocks[i].cout, &t[h1], n, SLOT_A + h2, &t[h2], c, err)) != FI_OK)
				return s;
			x = h2;
		}
		report(hook, hook_arg, blocks[i].name, &t[x]);
	}
	return head(m, &t[x], n, out, hook, hook_arg, err);
}

/* Crop -> centred square -> 150x150 -> normalised -> net. */
fi_status
fi_recognition_embed(const fi_model *m, fi_workspace *ws, const fi_image *img,
					 const fi_rect *crop, float out[FI_REC_DIM], const fi_cancel *c,
					 fi_error *err)
{
	float	   *in;
	fi_status	s = fi_net_input(ws, SLOT_IN, img, crop, FI_SQUARE_CENTER, FI_REC_SIZE,
								 &fi_norm_recognition, &in, err);

	if (s != FI_OK)
		return s;
	return fi_recognition_forward(m, ws, in, out, NULL, NULL, c, err);
}
