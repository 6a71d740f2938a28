CREATE TABLE `chore_cursors` (
	`chore` text PRIMARY KEY NOT NULL,
	`cursor` text,
	`done_at` integer,
	`updated_at` integer NOT NULL
);
