-- Collection entities are named in `kind` (`collection:DL1CheckDatasetCollection`).
ALTER TABLE prov_entities MODIFY kind VARCHAR(128) NOT NULL;
