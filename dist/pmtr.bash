# bash completion for pmtr: subcommands, their options, and job names read
# from the config file in use (pmtr -t -v prints the parsed config).

_pmtr_jobs() {
    local conf=${PMTR_CONFIG:-/etc/pmtr.conf} i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        [[ ${COMP_WORDS[i]} == -c ]] && conf=${COMP_WORDS[i + 1]}
    done
    pmtr -t -v -c "$conf" 2>/dev/null | awk '$1 == "name" { print $2 }'
}

_pmtr() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local subs="status stop start restart reload why logs metrics plan cat upgrade sim ctl rptserver help"
    if [[ $prev == -c || $prev == -p || $prev == --svg || $prev == --against || $prev == --binary ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    # the verb: the first word that is one, after flags such as -c FILE
    local verb= i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -c | -p | -n | --against | --binary) ((i++)) ;;
        -*) ;;
        *) [[ " $subs " == *" ${COMP_WORDS[i]} "* ]] && verb=${COMP_WORDS[i]}
           break ;;
        esac
    done
    if [[ -z $verb ]]; then
        COMPREPLY=($(compgen -W "$subs -c -F -t -v -p --strict --version" -- "$cur"))
        return
    fi
    case $verb in
    status) COMPREPLY=($(compgen -W "-c --json $(_pmtr_jobs)" -- "$cur")) ;;
    stop | start | restart) COMPREPLY=($(compgen -W "-c --no-wait $(_pmtr_jobs)" -- "$cur")) ;;
    why | cat) COMPREPLY=($(compgen -W "-c $(_pmtr_jobs)" -- "$cur")) ;;
    logs) COMPREPLY=($(compgen -W "-c -f -n $(_pmtr_jobs)" -- "$cur")) ;;
    reload | metrics) COMPREPLY=($(compgen -W "-c" -- "$cur")) ;;
    upgrade) COMPREPLY=($(compgen -W "-c --binary" -- "$cur")) ;;
    plan) COMPREPLY=($(compgen -W "-c --against" -- "$cur") $(compgen -f -- "$cur")) ;;
    sim) COMPREPLY=($(compgen -W "--timeline --svg --seed -c -q" -- "$cur") $(compgen -f -X '!*.yaml' -- "$cur")) ;;
    ctl) COMPREPLY=($(compgen -W "-s -p -k -to -v enable disable restart" -- "$cur")) ;;
    rptserver) COMPREPLY=($(compgen -W "-p -f -a -b --metrics" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
}
complete -F _pmtr pmtr
