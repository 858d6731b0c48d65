profile-997 /pid == $target/ { @[ustack] = count(); }
