#!/bin/sh
# codex-fusion's UserPromptSubmit and Stop hook: the opt-in review gate.
#
# The gate is off unless CODEX_FUSION_REVIEW_GATE (which wins) or the plugin option review_gate
# (CLAUDE_PLUGIN_OPTION_REVIEW_GATE) turns it on. When it is plainly off, this returns before any
# interpreter starts: a prompt or a stop then costs one sh. Anything else, an unusual spelling
# included, goes to the Python hook, which decides exactly as hookside/options.py says.
#
# With the gate on, a prompt (`gate.sh prompt`) may reuse the last stop's snapshot without Python
# (ADR 0030): when the stop left a reuse note for this window (reuse-<CLAUDE_PID>.txt, written with
# the gate record by hookside/gate_hook.py) that pins the record's exact bytes, and this window's
# server has watched the workspace since before that stop began and seen no change since. Then the
# Python hook would write nothing and answer nothing, so neither does this. Every file is checked
# against the exact shape our Python writes; anything else, any doubt, goes to Python.
gate=${CODEX_FUSION_REVIEW_GATE-}
case $gate in
*[![:space:]]*)
    [ "$gate" = 1 ] || exit 0 # the variable is set and is not 1: the gate is off
    ;;
*)
    option=${CLAUDE_PLUGIN_OPTION_REVIEW_GATE-}
    case $option in
    *[![:space:]]*) ;;
    *) exit 0 ;; # neither is set: off by default
    esac
    case $option in
    0 | [Ff][Aa][Ll][Ss][Ee] | [Nn][Oo] | [Oo][Ff][Ff]) exit 0 ;;
    esac
    ;;
esac
hook=${0%/*}/codex_fusion_hook.py
[ "${1-}" = prompt ] || exec python3 "$hook" gate

# --- a prompt: reuse the last stop's snapshot when that is certain ---------------------------------

# The time in $1 (a JSON number as Python writes time.time()) in units of 10 µs, truncated, into $n5;
# fails on anything else (a sign, an exponent, more than 10 integer digits, a leading zero).
n5() {
    case $1 in
    '' | *[!0-9.]* | .* | *. | *.*.* | 0[0-9]*) return 1 ;;
    esac
    int=${1%%.*}
    case $int in ???????????*) return 1 ;; esac
    frac=${1#"$int"}
    frac=${frac#.}00000
    frac=${frac%"${frac#?????}"}
    n5=$((int * 100000 + 1$frac - 100000))
}

# The server descriptor $1, if it is exactly what review/socket.py writes: sets its pid, ancestors,
# watch_since and changed (in n5 units); fails otherwise.
descriptor() {
    [ -f "$1" ] && [ ! -h "$1" ] && [ -O "$1" ] || return 1
    { IFS= read -r line && ! IFS= read -r extra && [ -z "$extra" ]; } <"$1" || return 1
    rest=$line
    take '{"version":1,"pid":' || return 1
    d_pid=${rest%%,*}
    rest=${rest#"$d_pid"}
    case $d_pid in '' | *[!0-9]* | 0*) return 1 ;; esac
    take ',"socket":"' || return 1
    socket=${rest%%\"*}
    case $socket in *\\*) return 1 ;; esac # an escape: only a JSON parser reads it right
    rest=${rest#"$socket"}
    take '","ancestors":[' || return 1
    d_ancestors=${rest%%]*}
    rest=${rest#"$d_ancestors"}
    case ,$d_ancestors, in
    ,,) ;;
    *[!0-9,]* | *,,* | *,0*) return 1 ;;
    esac
    take '],"at":' || return 1
    number at && take ',"watch_since":' && number d_since && take ',"changed":' && number d_changed &&
        [ "$rest" = "}" ]
}

# Strip the literal $1 from the front of $rest, or fail.
take() {
    case $rest in
    "$1"*) rest=${rest#"$1"} ;;
    *) return 1 ;;
    esac
}

# The number at the front of $rest (up to , or }) into the variable named $1, in n5 units.
number() {
    value=${rest%%[,\}]*}
    rest=${rest#"$value"}
    n5 "$value" || return 1
    eval "$1=\$n5"
}

# Decide without Python; returns 0 only when the Python hook would reuse the stop's snapshot and
# write nothing. Reads the payload into $payload once the cheap checks pass ($read set then).
reusable() {
    case ${CODEX_FUSION_REVIEW_GATE-} in
    1) ;;
    *[![:space:]]*) return 1 ;;
    *) case ${CLAUDE_PLUGIN_OPTION_REVIEW_GATE-} in 1 | true) ;; *) return 1 ;; esac ;;
    esac
    pid=${CLAUDE_PID-}
    case $pid in '' | *[!0-9]* | 0* | ???????????*) return 1 ;; esac
    dir=${CLAUDE_PROJECT_DIR-}
    case $dir in /*) ;; *) return 1 ;; esac
    case $dir in *'
'*) return 1 ;; esac
    if [ -n "${CLAUDE_PLUGIN_DATA-}" ]; then
        case $CLAUDE_PLUGIN_DATA in /*) state=$CLAUDE_PLUGIN_DATA/state ;; *) return 1 ;; esac
    elif [ -n "${XDG_STATE_HOME-}" ]; then
        case $XDG_STATE_HOME in /*) state=$XDG_STATE_HOME/codex-fusion ;; *) return 1 ;; esac
    else
        case ${HOME-} in /*) state=$HOME/.local/state/codex-fusion ;; *) return 1 ;; esac
    fi
    command -v sha256sum >/dev/null 2>&1 || return 1
    real=$(cd -P -- "$dir" 2>/dev/null && pwd -P && echo .) || return 1
    real=${real%.}
    real=${real%?} # pwd's own newline: a trailing one of the path's is kept, and refused below
    case $real in /*) ;; *) return 1 ;; esac
    case $real in *'
'*) return 1 ;; esac
    key=$(printf '%s' "$real" | sha256sum) || return 1
    key=${key%"${key#????????????????}"}
    case $key in ???????????????? ) ;; *) return 1 ;; esac
    window=$state/windows/$key
    note=$window/reuse-$pid.txt
    [ -f "$note" ] && [ ! -h "$note" ] && [ -O "$note" ] || return 1
    {
        IFS=' ' read -r version sid began name sum more && ! IFS= read -r extra && [ -z "$extra" ]
    } <"$note" || return 1
    [ "$version" = 1 ] && [ -z "$more" ] || return 1
    case $sid in '' | *[!A-Za-z0-9._-]*) return 1 ;; esac
    n5 "$began" || return 1
    began=$n5
    case $name in gate-????????????????.json) ;; *) return 1 ;; esac
    case ${name#gate-} in *[!0-9a-f]*.json) return 1 ;; esac
    case $sum in *[!0-9a-f]*) return 1 ;; esac
    [ ${#sum} = 64 ] || return 1
    record=$window/$name
    [ -f "$record" ] && [ ! -h "$record" ] && [ -O "$record" ] || return 1
    found=$(sha256sum <"$record") || return 1
    [ "${found%% *}" = "$sum" ] || return 1
    # this window's server: exactly one descriptor names CLAUDE_PID among its ancestors, and it runs
    servers=0
    for file in "$window"/server-*.json; do
        descriptor "$file" || return 1
        case ,$d_ancestors, in *,"$pid",*) ;; *) continue ;; esac
        kill -0 "$d_pid" 2>/dev/null || return 1 # gone, or another user's: Python decides
        servers=$((servers + 1))
        since=$d_since changed=$d_changed
    done
    [ "$servers" = 1 ] || return 1
    # watched since before the stop's snapshot began, no change since; 20 µs apart at least, so the
    # float Python compares is strictly smaller too
    [ $((since + 2)) -le "$began" ] && [ $((changed + 2)) -le "$began" ] || return 1
    # the payload: this conversation's prompt, as Claude Code sends it
    payload=$(cat)
    read=1
    [ ${#payload} -le 262144 ] || return 1
    case $payload in
    '{"session_id":"'* | '{"session_id": "'*) ;;
    *) return 1 ;;
    esac
    case $payload in
    *'"session_id"'*'"session_id"'* | *'"hook_event_name"'*'"hook_event_name"'*) return 1 ;; # twice
    esac
    case $payload in
    *'"hook_event_name":"UserPromptSubmit"'* | *'"hook_event_name": "UserPromptSubmit"'*) ;;
    *) return 1 ;;
    esac
    given=${payload#*'"session_id":'}
    given=${given# }
    given=${given#\"}
    [ "${given%%\"*}" = "$sid" ]
}

read=
reusable && exit 0
[ -z "$read" ] && exec python3 "$hook" gate
printf '%s\n' "$payload" | python3 "$hook" gate
