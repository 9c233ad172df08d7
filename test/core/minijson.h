/*
 * minijson.h
 *	  A small JSON reader for the tests (golden files): parses a whole
 *	  document into a tree of nodes.  Header-only; not for untrusted input.
 */
#ifndef MINIJSON_H
#define MINIJSON_H

#pragma GCC diagnostic ignored "-Wunused-function"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jnode
{
	jtype		type;
	double		num;			/* J_NUM, J_BOOL */
	char	   *str;			/* J_STR */
	char	   *key;			/* member name when inside an object */
	int			n;				/* children of J_ARR / J_OBJ */
	struct jnode **kids;
} jnode;

/* Skip whitespace. */
static const char *
j_ws(const char *p)
{
	while (*p && isspace((unsigned char) *p))
		p++;
	return p;
}

static const char *j_value(const char *p, jnode **out);

/* Parse a string literal (escapes other than \uXXXX kept simple). */
static const char *
j_string(const char *p, char **out)
{
	size_t		cap = 16,
				n = 0;
	char	   *s = malloc(cap);

	p++;
	while (*p && *p != '"')
	{
		char		ch = *p++;

		if (ch == '\\')
		{
			ch = *p++;
			if (ch == 'n')
				ch = '\n';
			else if (ch == 't')
				ch = '\t';
			else if (ch == 'u')
			{
				p += 4;
				ch = '?';
			}
		}
		if (n + 2 > cap)
			s = realloc(s, cap *= 2);
		s[n++] = ch;
	}
	s[n] = 0;
	*out = s;
	return *p ? p + 1 : p;
}

/* Append a child. */
static void
j_push(jnode *parent, jnode *kid)
{
	parent->kids = realloc(parent->kids, sizeof(jnode *) * (parent->n + 1));
	parent->kids[parent->n++] = kid;
}

/* Parse any value. */
static const char *
j_value(const char *p, jnode **out)
{
	jnode	   *nd = calloc(1, sizeof(jnode));

	*out = nd;
	p = j_ws(p);
	if (*p == '{' || *p == '[')
	{
		char		close = *p == '{' ? '}' : ']';

		nd->type = *p == '{' ? J_OBJ : J_ARR;
		p = j_ws(p + 1);
		while (*p && *p != close)
		{
			char	   *key = NULL;
			jnode	   *kid;

			if (nd->type == J_OBJ)
			{
				p = j_string(j_ws(p), &key);
				p = j_ws(p);
				if (*p == ':')
					p++;
			}
			p = j_value(p, &kid);
			kid->key = key;
			j_push(nd, kid);
			p = j_ws(p);
			if (*p == ',')
				p = j_ws(p + 1);
		}
		return *p ? p + 1 : p;
	}
	if (*p == '"')
	{
		nd->type = J_STR;
		return j_string(p, &nd->str);
	}
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0)
	{
		nd->type = J_BOOL;
		nd->num = *p == 't';
		return p + (*p == 't' ? 4 : 5);
	}
	if (strncmp(p, "null", 4) == 0)
		return p + 4;
	nd->type = J_NUM;
	{
		char	   *end;

		nd->num = strtod(p, &end);
		return end > p ? end : p + 1;
	}
}

/* Free a tree. */
static void
j_free(jnode *nd)
{
	if (nd == NULL)
		return;
	for (int i = 0; i < nd->n; i++)
		j_free(nd->kids[i]);
	free(nd->kids);
	free(nd->str);
	free(nd->key);
	free(nd);
}

/* Member of an object by key (NULL if absent). */
static jnode *
j_get(const jnode *nd, const char *key)
{
	if (nd == NULL || nd->type != J_OBJ)
		return NULL;
	for (int i = 0; i < nd->n; i++)
		if (strcmp(nd->kids[i]->key, key) == 0)
			return nd->kids[i];
	return NULL;
}

/* Element i of an array (NULL if out of range). */
static jnode *
j_at(const jnode *nd, int i)
{
	return (nd != NULL && nd->type == J_ARR && i >= 0 && i < nd->n) ? nd->kids[i] : NULL;
}

/* Number of a node (NaN when absent). */
static double
j_num(const jnode *nd)
{
	return nd != NULL ? nd->num : 0.0 / 0.0;
}

/* Load and parse a file; NULL when it cannot be read. */
static jnode *
j_load(const char *path)
{
	char	   *buf = (char *) t_read(path, NULL);
	jnode	   *root = NULL;

	if (buf == NULL)
		return NULL;
	j_value(buf, &root);
	free(buf);
	return root;
}

#endif							/* MINIJSON_H */
