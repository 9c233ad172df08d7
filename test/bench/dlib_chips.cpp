/*
 * dlib_chips.cpp
 *	  dlib's own face front end, as a benchmark anchor for faceid's: for each
 *	  photo path read from stdin, dlib's HOG frontal face detector (once more
 *	  on the photo upsampled 2x when nothing is found, as dlib's Python
 *	  face_locations(number_of_times_to_upsample=1) would), the largest box,
 *	  the 68-point shape predictor, get_face_chip_details(shape, 150, 0.25)
 *	  and extract_image_chip.  Writes the chip of the i-th photo (counting
 *	  from 0) as OUTDIR/<i>.png and prints one line per photo:
 *	    <i> <found 0|1> <ms from decoded photo to chip>
 *	  then a summary line "dlib: <n> photos, <found>, <median> ms median, <mean> ms mean".
 *	  Built only for benchmarks (test/bench/Makefile target dlib_chips, needs
 *	  Debian's libdlib-dev and libdlib-data); the extension never links dlib.
 *	  Usage: dlib_chips OUTDIR [shape_predictor.dat] < photo-list
 */
#include <dlib/image_io.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

using namespace dlib;

/* Milliseconds since an arbitrary origin (monotonic). */
static double
now_ms()
{
	return std::chrono::duration<double, std::milli>(
		std::chrono::steady_clock::now().time_since_epoch()).count();
}

/* The largest rectangle (by area) of a non-empty list. */
static rectangle
largest(const std::vector<rectangle> &r)
{
	return *std::max_element(r.begin(), r.end(),
							 [](const rectangle &a, const rectangle &b) { return a.area() < b.area(); });
}

/* dlib's chip of the largest face of img; false when no face is found. */
static bool
make_chip(frontal_face_detector &det, shape_predictor &sp, const matrix<rgb_pixel> &img,
		  matrix<rgb_pixel> &chip)
{
	std::vector<rectangle> faces = det(img);
	const matrix<rgb_pixel> *src = &img;
	matrix<rgb_pixel> up;

	if (faces.empty())
	{
		/* one pyramid level up, as face_locations(img, 1) */
		up = img;
		pyramid_up(up);
		faces = det(up);
		src = &up;
		if (faces.empty())
			return false;
	}
	full_object_detection shape = sp(*src, largest(faces));
	extract_image_chip(*src, get_face_chip_details(shape, 150, 0.25), chip);
	return true;
}

/* Chips for every listed photo, with timings. */
int
main(int argc, char **argv)
{
	std::string model = argc > 2 ? argv[2] : "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
	frontal_face_detector det = get_frontal_face_detector();
	shape_predictor sp;
	std::vector<double> times;
	std::string path;
	int			n = 0,
				found = 0;

	if (argc < 2)
	{
		std::cerr << "usage: dlib_chips OUTDIR [shape_predictor.dat] < photo-list\n";
		return 2;
	}
	try
	{
		deserialize(model) >> sp;
	}
	catch (std::exception &e)
	{
		std::cerr << "cannot load the shape predictor " << model << ": " << e.what() << "\n";
		return 2;
	}
	while (std::getline(std::cin, path))
	{
		matrix<rgb_pixel> img,
					chip;
		bool		ok = false;
		double		t0,
					ms;

		try
		{
			load_image(img, path);
		}
		catch (std::exception &e)
		{
			std::cerr << path << ": " << e.what() << "\n";
			printf("%d 0 0\n", n++);
			continue;
		}
		t0 = now_ms();
		ok = make_chip(det, sp, img, chip);
		ms = now_ms() - t0;
		times.push_back(ms);
		if (ok)
		{
			save_png(chip, std::string(argv[1]) + "/" + std::to_string(n) + ".png");
			found++;
		}
		printf("%d %d %.3f\n", n++, ok ? 1 : 0, ms);
	}
	if (times.empty())
	{
		printf("dlib: no photos\n");
		return 0;
	}
	{
		std::vector<double> s = times;
		double		sum = 0;

		std::sort(s.begin(), s.end());
		for (double t : s)
			sum += t;
		printf("dlib: %d photos, %d with a face, %.2f ms median, %.2f ms mean\n", n, found,
			   s[s.size() / 2], sum / s.size());
	}
	return 0;
}
