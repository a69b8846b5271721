# shellcheck shell=dash
# QMP to the QEMU under test in L1, for L1's /init of the nested
# scenarios (tests/nested/l1-init.sh) and of the payload
# (tests/nested/payload/l1-init.sh), which source it from
# /etc/nested/l1-qmp.sh.
#
# qmp_monitor_args: make the pipes /tmp/qmp.{in,out} and print the
# options that give QEMU its monitor on them.
# qmp_open PREFIX: once, open the replies and negotiate capabilities.
# qmp_command PREFIX COMMAND: send COMMAND and print each line up to its
# reply, the events that came before it included, after PREFIX; fails
# when QEMU closed the monitor before it replied.

qmp_opened=

qmp_monitor_args() {
    mkfifo /tmp/qmp.in /tmp/qmp.out
    echo "-chardev pipe,id=qmp,path=/tmp/qmp -mon chardev=qmp,mode=control"
}

qmp_command() {
    local reply

    echo "$2" > /tmp/qmp.in
    while IFS= read -r reply <&4; do
        echo "$1$reply"
        case "$reply" in *'"return"'*|*'"error"'*) return 0 ;; esac
    done
    return 1
}

qmp_open() {
    [ -z "$qmp_opened" ] || return 0
    qmp_opened=1
    exec 4</tmp/qmp.out
    qmp_command "$1" '{"execute": "qmp_capabilities"}'
}
