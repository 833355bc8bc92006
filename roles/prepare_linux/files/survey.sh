# shellcheck shell=sh
# prepare_linux's one look at the guest (run as: sh -c "$(cat survey.sh)" sh QUERY ITEM...): every question the
# role asks before it changes anything, answered in one call instead of one module run each (seconds apiece on a
# slow guest). Read-only; in a chroot tree it reads the tree. QUERY is dpkg or rpm; each ITEM is KIND:NAME and
# gets one output line "KIND ANSWER NAME" (the name last: it may hold spaces):
#   pkg:NAME    installed | missing            (the package database, no network)
#   unit:NAME   systemctl is-enabled's word, or nothing when systemd knows no such unit
#   path:PATH   yes | no                       (exists, or is a symlink: a dangling one too)
#   file:PATH   the content, base64, or no line when PATH is not a regular file
#   swap:       the active swap devices and files, base64 (swapon --show)
query=$1
shift
for item in "$@"; do
    kind=${item%%:*}
    name=${item#*:}
    case $kind in
        pkg)
            if [ "$query" = dpkg ]; then
                status=$(dpkg-query --show --showformat='${Status}' "$name" 2>/dev/null)
                case $status in *" installed") answer=installed ;; *) answer=missing ;; esac
            elif rpm -q --quiet "$name" 2>/dev/null; then
                answer=installed
            else
                answer=missing
            fi
            printf 'pkg %s %s\n' "$answer" "$name" ;;
        unit)
            printf 'unit %s %s\n' "$(systemctl is-enabled "$name" 2>/dev/null)" "$name" ;;
        path)
            if [ -e "$name" ] || [ -L "$name" ]; then answer=yes; else answer=no; fi
            printf 'path %s %s\n' "$answer" "$name" ;;
        file)
            if [ -f "$name" ]; then printf 'file %s %s\n' "$(base64 -w 0 < "$name")" "$name"; fi ;;
        swap)
            printf 'swap %s -\n' "$(swapon --show=NAME --noheadings 2>/dev/null | base64 -w 0)" ;;
        *)
            echo "survey.sh: unknown item $item" >&2
            exit 2 ;;
    esac
done
