/* SPDX-License-Identifier: MIT */
/*
 * mountinfo.c - reading /proc/self/mountinfo (dfs_mountinfo.h).
 */
#define _GNU_SOURCE
#include "dfs_mountinfo.h"

#include <errno.h>
#include <stdbool.h>
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

int dfs_mountinfo_each(dfs_mount_fn *fn, void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	if (!f)
		return -errno;
	while (!r && getline(&line, &cap, f) > 0) {
		char *point = NULL, *type = NULL, *source = NULL, *sep = strstr(line, " - ");
		uint64_t id;

		if (sep && sscanf(line, "%" SCNu64 " %*s %*s %*s %ms", &id, &point) == 2 &&
		    sscanf(sep + 3, "%ms %ms", &type, &source) == 2) {
			dfs_mountinfo_unescape(point);
			dfs_mountinfo_unescape(source);
			r = fn(arg, id, point, type, source);
		}
		free(point);
		free(type);
		free(source);
	}
	free(line);
	fclose(f);
	return r;
}

struct wanted {
	const char *point, *type;
	uint64_t id;
	bool found;
};

static int match(void *arg, uint64_t id, const char *point, const char *type,
		 const char *source)
{
	struct wanted *w = arg;

	(void)source;
	if (!strcmp(point, w->point) && !strcmp(type, w->type)) {
		w->id = id; /* later lines are newer mounts: keep looking */
		w->found = true;
	}
	return 0;
}

int dfs_mountinfo_id(const char *point, const char *fstype, uint64_t *id)
{
	struct wanted w = {.point = point, .type = fstype};
	int r = dfs_mountinfo_each(match, &w);

	if (!r && !w.found)
		r = -ENOENT;
	if (!r)
		*id = w.id;
	return r;
}
