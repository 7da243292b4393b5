/* SPDX-License-Identifier: MIT */
/*
 * Description: the getxattr/listxattr/setxattr calls as a test sees them,
 * with the size argument and errno shown exactly (getfattr hides both).
 *
 *   xattrs get PATH NAME SIZE      print "len N" or "value V", or the errno
 *   xattrs list PATH SIZE          print "len N" or one name per line
 *   xattrs set PATH NAME VALUE     print "ok" or the errno
 *   xattrs remove PATH NAME        print "ok" or the errno
 *
 * An errno is printed as its name (ERANGE, ENODATA, EPERM ...); the exit
 * status is 0 either way, so a test compares the output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

static int show_err(void)
{
	const char *name = strerrorname_np(errno);

	printf("%s\n", name ? name : "E?");
	return 0;
}

int main(int argc, char **argv)
{
	ssize_t n;

	if (argc == 5 && !strcmp(argv[1], "get")) {
		size_t size = strtoul(argv[4], NULL, 10);
		char *buf = malloc(size + 1);
		if (!buf)
			return 2;
		n = getxattr(argv[2], argv[3], size ? buf : NULL, size);
		if (n < 0) {
			free(buf);
			return show_err();
		}
		if (!size)
			printf("len %zd\n", n);
		else
			printf("value %.*s\n", (int)n, buf);
		free(buf);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "list")) {
		size_t size = strtoul(argv[3], NULL, 10);
		char *buf = malloc(size + 1);
		if (!buf)
			return 2;
		n = listxattr(argv[2], size ? buf : NULL, size);
		if (n < 0) {
			free(buf);
			return show_err();
		}
		if (!size)
			printf("len %zd\n", n);
		for (char *p = buf; size && p < buf + n; p += strlen(p) + 1)
			printf("%s\n", p);
		free(buf);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "set")) {
		if (setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0))
			return show_err();
		printf("ok\n");
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "remove")) {
		if (removexattr(argv[2], argv[3]))
			return show_err();
		printf("ok\n");
		return 0;
	}
	fprintf(stderr, "usage: xattrs get|list|set|remove ...\n");
	return 2;
}
