/*
 * faceid.h
 *	  Shared declarations of the SQL glue: GUC variables and module init.
 */
#ifndef FACEID_H
#define FACEID_H

#include "postgres.h"

/* faceid.match_threshold: default threshold of face_match(a, b). */
extern double faceid_match_threshold;

#endif							/* FACEID_H */
