/* SPDX-License-Identifier: MIT */
/*
 * size.c - reading a size as a user writes it (dfs_size.h).
 */
#include "dfs_size.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Digits of a fraction past this many are read and ignored. */
#define FRAC_DIV_MAX 1000000000000000000ull /* 10^18 */

int dfs_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTP";
	uint64_t whole = 0, frac = 0, frac_div = 1, mul = 1;
	const char *p = s, *u;
	bool digits = false, point = false;

	for (; *p >= '0' && *p <= '9'; p++, digits = true) {
		if (whole > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		point = true;
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
			if (frac_div < FRAC_DIV_MAX) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_div *= 10;
			}
	}
	if (!digits)
		return -EINVAL;
	u = *p ? strchr(units, *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p) : NULL;
	if (u) {
		for (const char *k = units; k <= u; k++)
			mul <<= 10;
		p++;
		if (!strcmp(p, "iB"))
			p += 2;
	} else if (point) {
		return -EINVAL; /* a fraction of a byte */
	}
	if (!strcmp(p, "B"))
		p++;
	if (*p)
		return -EINVAL;
	if (whole > UINT64_MAX / mul)
		return -ERANGE;
	whole *= mul;
	/* frac / frac_div of a unit: mul <= 2^50 and frac < 10^18 < 2^60. */
	uint64_t part = (uint64_t)((unsigned __int128)mul * frac / frac_div);
	if (whole > UINT64_MAX - part)
		return -ERANGE;
	*out = whole + part;
	return 0;
}
