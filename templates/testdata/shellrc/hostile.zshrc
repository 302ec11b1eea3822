# >>> senv shell (zsh: .zshrc) >>>
if [ -n "${senv_user_zdotdir_set-}" ]; then ZDOTDIR=$senv_user_zdotdir; else unset ZDOTDIR; fi
unset senv_user_zdotdir senv_user_zdotdir_set
if [ -r "${ZDOTDIR:-$HOME}/.zshrc" ]; then
  . "${ZDOTDIR:-$HOME}/.zshrc"
fi
# The activation block is POSIX sh: run it with zsh's sh emulation (no
# NOMATCH error for an empty glob, sh word splitting), local to this function.
senv_shell_activate() {
  emulate -L sh
# >>> senv activation >>>
# A function, so that a failure returns instead of closing an interactive
# shell that evals this; callers that must stop (a job) test its status.
senv_activate() {
  # shellcheck disable=SC1003,SC2016
  [ -e /tmp/senv-1000/.senv/3da8f8c199244f6b.done ] || { printf '%s\n' 'senv: error: the environment was removed since it was staged; run again' >&2; return 1; }
  if ! command -v module >/dev/null 2>&1; then
    # shellcheck disable=SC1003,SC2016,SC2043
    for senv_init in /usr/share/lmod/lmod/init/sh; do
      # shellcheck source=/dev/null
      if [ -r "$senv_init" ]; then . "$senv_init"; break; fi
    done
    unset senv_init
  fi
  if ! command -v module >/dev/null 2>&1; then
    printf '%s\n' 'senv: error: no module system found; set module_init in the senv config' >&2
    return 1
  fi
  # shellcheck disable=SC1003,SC2016
  module load cuda/12.1 || { printf '%s\n' 'senv: error: module load cuda/12.1 failed' >&2; return 1; }
  # shellcheck disable=SC1003,SC2016
  export VIRTUAL_ENV=/tmp/senv-1000/3da8f8c199244f6b
  # shellcheck disable=SC1003,SC2016
  export PATH=/tmp/senv-1000/3da8f8c199244f6b/bin:"$PATH"
  unset PYTHONHOME
  :
}
senv_activate || exit 1
# <<< senv activation <<<
}
senv_shell_activate || exit 1
unset -f senv_shell_activate
PS1='(senv:it'\''s $HOME `x`) '"${PS1-}"
# read once: nothing needs this directory any more
rm -rf -- '/tmp/a dir/it'\''s
$(x)'
# <<< senv shell (zsh: .zshrc) <<<
