imports.system.exit(77);
