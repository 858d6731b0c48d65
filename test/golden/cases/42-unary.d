syscall::read:return { @neg = sum(-arg0); @not[!arg0] = count(); @inv = max(~arg0); @pos = min(+arg0); }
