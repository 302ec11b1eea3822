# >>> senv shell (zsh: .zshenv) >>>
# zsh reads $ZDOTDIR/.zshenv first: read the user's own .zshenv where zsh
# would have found it, then point ZDOTDIR back here so that zsh reads this
# directory's .zshrc, which restores the user's ZDOTDIR.
ZDOTDIR='/home/u/'\''z d'\'''
if [ -r "${ZDOTDIR:-$HOME}/.zshenv" ]; then
  . "${ZDOTDIR:-$HOME}/.zshenv"
fi
senv_user_zdotdir=${ZDOTDIR-}
senv_user_zdotdir_set=${ZDOTDIR+x}
ZDOTDIR='/tmp/a dir/it'\''s
$(x)'
# <<< senv shell (zsh: .zshenv) <<<
