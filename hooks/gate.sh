#!/bin/sh
# codex-fusion's UserPromptSubmit and Stop hook: the opt-in review gate.
#
# The gate is off unless CODEX_FUSION_REVIEW_GATE (which wins) or the plugin option review_gate
# (CLAUDE_PLUGIN_OPTION_REVIEW_GATE) turns it on. When it is plainly off, this returns before any
# interpreter starts: a prompt or a stop then costs one sh. Anything else, an unusual spelling
# included, goes to the Python hook, which decides exactly as hookside/options.py says.
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
exec python3 "${0%/*}/codex_fusion_hook.py" gate
