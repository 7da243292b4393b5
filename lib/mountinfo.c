/* SPDX-License-Identifier: MIT */
/*
 * mountinfo.c - reading /proc/self/mountinfo (dfs_mountinfo.h).
 */
#define _GNU_SOURCE
#include "dfs_mountinfo.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dfs_mountinfo_unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

int dfs_mountinfo_id(const char *point, const char *fstype, uint64_t *id)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *at = NULL, *type = NULL, *sep = strstr(line, " - ");
		uint64_t v;

		if (sep && sscanf(line, "%" SCNu64 " %*s %*s %*s %ms", &v, &at) == 2 &&
		    sscanf(sep + 3, "%ms", &type) == 1) {
			dfs_mountinfo_unescape(at);
			if (!strcmp(at, point) && !strcmp(type, fstype)) {
				*id = v; /* later lines are newer mounts: keep looking */
				r = 0;
			}
		}
		free(at);
		free(type);
	}
	free(line);
	fclose(f);
	return r;
}
