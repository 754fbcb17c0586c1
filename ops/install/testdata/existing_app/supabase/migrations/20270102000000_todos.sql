-- A second table of the app's.
create table public.todos (
  id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  title text not null
);
alter table public.todos enable row level security;
