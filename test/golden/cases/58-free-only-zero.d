/* Variables only ever assigned 0 (freed) are given the 0, since nothing defines their map
   for a delete; string self-> variables are freed by 0 or "", as in D. */
syscall::read:entry { seen[pid] = 0; self->n = 0; self->name = execname; }
syscall::read:return /self->name == "bash"/ { printf("%d %s\n", seen[pid], self->name); self->name = 0; }
syscall::write:entry { self->name = ""; }
