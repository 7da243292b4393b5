# SPDX-License-Identifier: MIT
# Sourced: debian_archive prints "URI KEYRING" of the Debian archive this
# machine installs from, the first deb entry for the installed release
# (deb822 .sources files, then one-line sources.list files), so that
# scripts fetch other suites from the same place and no host name is
# written into the tree.  KEYRING is the entry's Signed-By, else Debian's
# archive keyring.  Prints nothing when there is none.
_debian_archives() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk -v rel="$VERSION_CODENAME" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " rel " ") && uris != "") {
					split(uris, u, " "); print u[1], (key == "" ? "-" : key); found = 1; exit
				}
				types = suites = uris = key = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
			/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
			/^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
			/^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); key = $0 }
			END { if (!found) flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] || continue
		awk -v rel="$VERSION_CODENAME" '
			$1 == "deb" {
				key = "-"; i = 2
				if ($2 ~ /^\[/) {
					for (; i <= NF; i++) {
						if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key); sub(/\]$/, "", key) }
						if ($i ~ /\]$/) { i++; break }
					}
				}
				if ($(i + 1) == rel) { print $i, key; exit }
			}' "$f"
	done
}
debian_archive() {
	local uri key
	# shellcheck disable=SC1091
	local VERSION_CODENAME
	VERSION_CODENAME=$(. /etc/os-release && echo "$VERSION_CODENAME")
	read -r uri key < <(_debian_archives | head -n 1) || return 0
	[ "$key" = - ] && key=/usr/share/keyrings/debian-archive-keyring.gpg
	echo "$uri $key"
}
