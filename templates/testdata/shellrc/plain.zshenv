# >>> senv shell (zsh: .zshenv) >>>
# zsh reads $ZDOTDIR/.zshenv first: read the user's own .zshenv where zsh
# would have found it, then point ZDOTDIR back here so that zsh reads this
# directory's .zshrc, which restores the user's ZDOTDIR.
unset ZDOTDIR
if [ -r "${ZDOTDIR:-$HOME}/.zshenv" ]; then
  . "${ZDOTDIR:-$HOME}/.zshenv"
fi
senv_user_zdotdir=${ZDOTDIR-}
senv_user_zdotdir_set=${ZDOTDIR+x}
ZDOTDIR=/tmp/senv-shell-123
# <<< senv shell (zsh: .zshenv) <<<
