# shellcheck shell=bash
# >>> senv shell (bash) >>>
# bash reads this with --rcfile in place of ~/.bashrc: read that first, as
# bash would have, then activate the env on top of what it set up.
if [ -r "$HOME/.bashrc" ]; then
  # shellcheck source=/dev/null
  . "$HOME/.bashrc"
fi
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
# shellcheck disable=SC1003,SC2016
PS1='(senv:it'\''s $HOME `x`) '"${PS1-}"
# read once: nothing needs this file any more
# shellcheck disable=SC1003,SC2016
rm -rf -- '/tmp/a dir/it'\''s
$(x)'
# <<< senv shell (bash) <<<
